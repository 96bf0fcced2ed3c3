"""Shared helpers for the benchmark scripts: the sample generator and peak-memory measurement."""

from __future__ import annotations

import importlib.util
import resource
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def generator():
    """data/generate_sample.py as a module (it is a script, not part of the package)."""
    path = REPO / "data" / "generate_sample.py"
    spec = importlib.util.spec_from_file_location("generate_sample", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_sample"] = module  # lets its worker processes find it
    spec.loader.exec_module(module)
    return module


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB.

    /proc's VmHWM belongs to this process image alone; getrusage's ru_maxrss survives exec on Linux,
    so a child would report its parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
