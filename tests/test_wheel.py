"""An installed (non-editable) wheel still finds its templates, rules and sample."""

from __future__ import annotations

import subprocess
import sys
import venv

import pytest

from conftest import REPO


@pytest.mark.slow
def test_installed_wheel_finds_templates_rules_and_sample(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(REPO)], check=True)
    wheel = next(dist.glob("qa_scoring-*.whl"))
    env_dir = tmp_path / "venv"
    # System site packages give the dependencies without a download; the wheel itself is installed.
    venv.create(env_dir, with_pip=True, system_site_packages=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True)
    probe = (
        "import qa_scoring.resources as r, pathlib;"
        "assert '_bundled' in str(r.rules_dir()), r.rules_dir();"
        "assert any(r.rules_dir().glob('*.yaml')), 'no rules';"
        "assert any(r.templates_dir().iterdir()), 'no templates';"
        "assert r.sample_files(), 'no sample';"
        "print('ok')"
    )
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
