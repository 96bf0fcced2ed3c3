"""Rule packs an adversary writes: non-finite or huge weights, YAML bombs, deep nesting, big packs."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qa_scoring import store
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


def laughs(levels: int, width: int = 9) -> str:
    """A 'billion laughs' anchor chain: level n is `width` aliases of level n - 1 (width ** levels leaves)."""
    lines = ['l0: &l0 "lol lol lol lol lol lol lol lol lol lol"']
    for n in range(1, levels + 1):
        lines.append(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("where", ["contains_any", "weight"])
def test_billion_laughs_is_refused_while_parsing_with_a_short_line(tmp_path, where):
    bomb = laughs(9)  # 9 ** 9 = 387M leaves: gigabytes if expanded or quoted
    check = "{contains_any: *l9}" if where == "contains_any" else "{not_empty: true}"
    weight = "*l9" if where == "weight" else "1"
    root = pack(tmp_path, bomb + f"rules:\n  - {{id: r, title: R, field: answer, check: {check}, "
                                 f"severity: major, weight: {weight}}}\n")
    # In a child with 2 GB of address space: a regression fails this test instead of the machine
    # (the unbounded version reached 21 GB before the kernel killed it).
    result = subprocess.run([sys.executable, "-m", "qa_scoring", "rules", "check", str(root)],
                            capture_output=True, text=True, timeout=120,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)))
    assert result.returncode == 2, result.stderr[-500:]
    assert len(result.stderr) < 300
    assert error_lines(result) == [
        # line 8 is l7 = 9 ** 7 leaves, the first level over the limit
        f"Error: {root}/pack.yaml:8: invalid YAML: aliases expand to more than 1,000,000 nodes (the limit)"]


@pytest.mark.parametrize("where, shown", [
    ("check: {contains_any: [*l4]}", "contains_any[0] must be text, got a list of 9 items"),
    ("check: {not_empty: true}, weight: *l4", "weight must be a finite number > 0, got a list of 9 items"),
    ("check: {in_set: *l0}, severity: *l3", "severity must be minor, major or critical, got a list of 9 items"),
    ("check: {not_empty: *l0}", "not_empty must be true"),
    ("check: {not_empty: true}, *l4: 1", "unknown key 'a list of 9 items'"),
])
def test_values_in_error_lines_are_quoted_in_a_few_dozen_characters(tmp_path, where, shown):
    from qa_scoring.errors import RulePackError
    from qa_scoring.rules import load_rule_pack

    # Under the expansion limit (9 ** 4 leaves per use), but its repr would be ~400 kB a line.
    rule = {"id": "r", "title": "R", "field": "answer", "severity": "major", "weight": "1"}
    for part in where.split(", "):
        key, value = part.split(": ", 1)
        rule[key] = value
    body = ", ".join(f"{k}: {v}" for k, v in rule.items())
    root = pack(tmp_path, laughs(4) + f"rules:\n  - {{{body}}}\n")
    with pytest.raises(RulePackError) as info:
        load_rule_pack(root)
    lines = str(info.value).splitlines()
    assert all(len(line) < len(str(root)) + 120 for line in lines), lines
    assert any(line.endswith(shown) or shown in line for line in lines), lines


def test_long_texts_are_clipped_in_error_lines(tmp_path):
    from qa_scoring.errors import RulePackError
    from qa_scoring.rules import load_rule_pack

    root = pack(tmp_path, f"""\
        rules:
          - {{id: r, title: R, field: {"x" * 100_000}, check: {{not_empty: true}}, severity: major, weight: 1}}
        """)
    with pytest.raises(RulePackError) as info:
        load_rule_pack(root)
    assert str(info.value) == f"{root}/pack.yaml:2: rule r: unknown field '{'x' * 40}'..."


@pytest.mark.parametrize("text", ["[" * 100_000, "a:\n" + "".join(" " * n + "- \n" for n in range(1, 3000)),
                                  "{a: " * 100_000])
def test_yaml_nested_100k_levels_is_one_error_line(runner, tmp_path, text):
    root = pack(tmp_path, text)
    result = runner.invoke(cli, ["rules", "check", str(root)])
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result)
    assert re.fullmatch(rf"Error: {re.escape(str(root))}/pack.yaml:(1|51): invalid YAML: "
                        r"nested deeper than 50 levels \(the limit\)", line), line
    assert "Traceback" not in result.output


def test_an_alias_that_refers_to_itself_is_refused(tmp_path):
    from qa_scoring.errors import RulePackError
    from qa_scoring.rules import load_rule_pack

    root = pack(tmp_path, "a: &a [1, *a]\nrules: []\n")
    with pytest.raises(RulePackError, match=r"pack.yaml:1: invalid YAML: alias \*a refers to itself$"):
        load_rule_pack(root)


@pytest.mark.slow
def test_a_pack_of_2000_rules_scores_every_rule(runner, tmp_path, sample_db):
    """Totals over 2,000 rules are flat lists, not `+` / `OR` chains 2,000 deep (DuckDB stops at 1,000)."""
    n = 2000
    rules = "rules:\n" + "".join(
        f"  - {{id: len_{k:04}, title: L, field: answer, check: {{length: {{min: {k}}}}}, "
        f"severity: {'critical' if k == 700 else 'minor'}, weight: {1 + k % 3}}}\n" for k in range(1, n + 1))
    root = pack(tmp_path, rules)
    con = store.connect(sample_db)
    con.execute("DELETE FROM interactions WHERE interaction_id NOT IN "
                "(SELECT interaction_id FROM interactions ORDER BY interaction_id LIMIT 60)")  # a fast test
    con.close()
    result = runner.invoke(cli, ["--db", str(sample_db), "score", "--rules", str(root), "--json"])
    assert result.exit_code == 0, result.stderr
    con = store.connect(sample_db, read_only=True)
    # Rule k fails when the answer has fewer than k characters; weight 1 + k % 3; only k = 700 is critical.
    wrong = con.execute(f"""
        WITH expected AS (
            SELECT interaction_id, length(answer) AS len,
                   {n} - least(length(answer), {n}) AS failed,
                   (SELECT sum(1 + k % 3) FROM range(1, {n} + 1) t(k)) AS w_all,
                   (SELECT sum(1 + k % 3) FROM range(1, {n} + 1) t(k) WHERE k <= length(answer)) AS w_passed
            FROM interactions WHERE NOT qa_blank(answer))
        SELECT count(*) FILTER (s.rules_applicable <> {n} OR s.rules_failed <> e.failed
                                OR s.critical_failed <> (e.len < 700)
                                OR abs(s.score - CASE WHEN e.len < 700 THEN 0 ELSE 100.0 * coalesce(e.w_passed, 0) / e.w_all END) > 1e-9),
               count(*), count(*) FILTER (e.len < {n})
        FROM expected e JOIN interaction_scores s USING (interaction_id)""").fetchone()
    evidence = con.execute("""SELECT count(*), count(*) FILTER (evidence = length(i.answer)::VARCHAR || ' chars (min 2000 chars)')
        FROM rule_results r JOIN interactions i USING (interaction_id)
        WHERE rule_id = 'len_2000' AND NOT passed""").fetchone()
    con.close()
    assert wrong[0] == 0 and wrong[1] > 50 and wrong[2] > 0
    assert evidence[0] == wrong[2] and evidence[1] == evidence[0]
