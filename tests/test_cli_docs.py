"""Every command explains itself with an example and appears in the README."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from qa_scoring.cli import cli
from conftest import REPO


def all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in sorted(group.commands.items()):
        full = f"{prefix}{name}"
        out.append((full, command))
        if isinstance(command, click.Group):
            out.extend(all_commands(command, full + " "))
    return out


COMMANDS = all_commands(cli)


@pytest.mark.parametrize("name, command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_has_help_with_an_example(runner, name, command):
    result = runner.invoke(cli, name.split() + ["--help"])
    assert result.exit_code == 0
    assert "Example" in result.output, f"'{name} --help' has no Example block"


@pytest.mark.parametrize("name, command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_is_in_the_readme(name, command):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"qa-scoring {name}" in readme or f"`{name}`" in readme, f"README does not mention '{name}'"


def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "qa_scoring", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "qa-scoring" in result.stdout


def test_unknown_command_is_usage_error(runner):
    result = runner.invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
