"""Rule packs an adversary writes: non-finite or huge weights, YAML bombs, deep nesting, big packs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from qa_scoring.cli import cli
from tests.conftest import write_files


def pack(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "pack"
    write_files(root, {"pack.yaml": textwrap.dedent(text)})
    return root


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


RULE = """\
rules:
  - id: r
    title: R
    field: answer
    check: {{not_empty: true}}
    severity: major
    weight: {weight}
"""


@pytest.mark.parametrize("weight, shown", [(".nan", "nan"), (".inf", "inf"), ("-.inf", "-inf"), (".NaN", "nan")])
def test_non_finite_weights_are_refused_with_file_and_line(runner, tmp_path, weight, shown):
    root = pack(tmp_path, RULE.format(weight=weight))
    result = runner.invoke(cli, ["rules", "check", str(root)])
    assert result.exit_code == 2
    assert error_lines(result) == [f"Error: {root}/pack.yaml:7: rule r: weight must be a finite number > 0, got {shown}"]


def test_huge_weights_are_refused_and_the_sum_is_bounded(runner, tmp_path, db_path):
    root = pack(tmp_path, RULE.format(weight="1.0e+308"))
    result = runner.invoke(cli, ["rules", "check", str(root)])
    assert error_lines(result) == [f"Error: {root}/pack.yaml:7: rule r: weight 1e+308 is over the limit of 1,000,000"]
    many = "rules:\n" + "".join(
        f"  - {{id: r{n}, title: R, field: answer, check: {{not_empty: true}}, severity: major, weight: 1000000}}\n"
        for n in range(1001))
    root = pack(tmp_path / "many", many)
    result = runner.invoke(cli, ["--db", str(db_path), "score", "--rules", str(root)])
    assert result.exit_code == 2
    assert error_lines(result) == [f"Error: {root}: the rule weights sum to 1.001e+09, over the limit of 1,000,000,000"]


@pytest.mark.parametrize("key, value", [("min", ".nan"), ("max", ".inf")])
def test_non_finite_length_bounds_are_refused(runner, tmp_path, key, value):
    root = pack(tmp_path, f"""\
        rules:
          - id: r
            title: R
            field: answer
            check:
              length: {{{key}: {value}}}
            severity: major
            weight: 1
        """)
    result = runner.invoke(cli, ["rules", "check", str(root)])
    assert result.exit_code == 2
    assert error_lines(result) == [
        f"Error: {root}/pack.yaml:6: rule r: length.{key} must be a finite number, got {value.strip('.')}"]
