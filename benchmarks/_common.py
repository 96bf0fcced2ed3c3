"""Shared helpers for the benchmark scripts: the sample generator (either profile) and peak-memory measurement."""

from __future__ import annotations

import argparse
import functools
import importlib.util
import resource
import types
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


PROFILES = ("default", "dense")
_profile = "default"  # what generator() returns unless told: set by use_profile from --profile


def use_profile(profile: str) -> None:
    """Make generator() produce `profile`'s data in this process (after parsing --profile)."""
    global _profile
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}")
    _profile = profile


def add_profile_option(parser: argparse.ArgumentParser) -> None:
    """--profile: which kind of generated data a benchmark runs on (data/generate_sample.py --profile)."""
    parser.add_argument("--profile", choices=PROFILES, default="default",
                        help="default: the sample's kind of data; dense: every rule matching often, "
                             "long answers, many negations, JSON on one line (the worst realistic case)")


def generator(profile: str | None = None):
    """data/generate_sample.py as a module (it is a script, not part of the package).

    With a profile (default: the one set by use_profile), generate_rows / generate_with_truth /
    write_file / write_rows produce that profile's data unless told otherwise.
    """
    profile = profile or _profile
    path = REPO / "data" / "generate_sample.py"
    module = sys.modules.get("generate_sample")
    if module is None or getattr(module, "__file__", None) != str(path):
        spec = importlib.util.spec_from_file_location("generate_sample", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["generate_sample"] = module  # lets its worker processes find it
        spec.loader.exec_module(module)
    if profile == "default":
        return module
    bound = types.SimpleNamespace(**{k: v for k, v in vars(module).items() if not k.startswith("__")})
    for name in ("generate_rows", "generate_with_truth", "write_file", "write_rows"):
        setattr(bound, name, functools.partial(getattr(module, name), profile=profile))
    return bound


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
