"""backtest: a candidate pack scored beside the current one without changing anything, the diff
report (escaped, self-contained) and the --json contract. Real packs in tmp_path, real DuckDB files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_scoring import store
from qa_scoring.cli import cli
from test_packs import copy_pack
from test_report import check_page

# Every stored table (the run log aside: backtest records its run like every command).
STORED = ("interactions", "raw_pages", "quarantine", "interaction_scores", "kept_scores", "rule_outcomes",
          "rule_evidence", "rule_pack_rules", "rule_packs", "predictions", "models", "watermarks", "schema_version")


def dump(db: Path) -> dict:
    con = store.connect(db, read_only=True)
    try:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in STORED}
    finally:
        con.close()


def without_phrase(phrase: str):
    """An edit removing one phrase from frases_cortantes (30_prohibidas.yaml) and its example."""
    def edit(name: str, text: str) -> str:
        if name != "30_prohibidas.yaml":
            return text
        text = text.replace(f'"{phrase}", ', "")
        return text.replace('"YA LE DIJE QUE NO", ', "")
    return edit


@pytest.fixture
def scored(sample_db, runner):
    result = runner.invoke(cli, ["--db", str(sample_db), "score"])
    assert result.exit_code == 0, result.output
    return str(sample_db)


def backtest(runner, db: str, pack: Path, out: Path, *extra: str) -> dict:
    result = runner.invoke(cli, ["--db", db, "backtest", "--rules", str(pack), "--out", str(out), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_pack_changing_one_rules_phrases_flips_only_that_rule_and_changes_nothing(scored, runner, tmp_path):
    before = dump(Path(scored))
    candidate = copy_pack(tmp_path, "cand", without_phrase("ya le dije"))
    got = backtest(runner, scored, candidate, tmp_path / "bt")
    assert dump(Path(scored)) == before  # every stored table byte-equal: nothing changed
    assert set(got) >= {"interactions", "current_pack", "candidate_pack", "rules", "agents", "out"}
    assert got["interactions"] == 2986 and got["out"] == str(tmp_path / "bt" / "index.html")
    con = store.connect(scored, read_only=True)
    assert got["current_pack"] == store.fetch_one(con, "SELECT rule_pack_hash FROM rule_packs WHERE is_current")[0]
    # What the rule's evidence says "ya le dije" caught under the current pack: exactly those flip.
    caught = store.fetch_one(con, """SELECT count(*) FROM rule_results WHERE rule_id = 'frases_cortantes'
                                     AND NOT passed AND lower(evidence) = 'ya le dije'""")[0]
    con.close()
    assert caught > 0
    rule = got["rules"]["frases_cortantes"]
    assert rule["status"] == "changed"
    # (an answer can hold another forbidden phrase too: it keeps failing)
    assert 0 < rule["fail_to_pass"] <= caught and rule["pass_to_fail"] == 0 and rule["flipped"] == rule["fail_to_pass"]
    assert rule["candidate_pass_rate"] > rule["current_pass_rate"]
    others = {k: v for k, v in got["rules"].items() if k != "frases_cortantes"}
    assert len(others) == 30 and {v["status"] for v in others.values()} == {"unchanged"}
    assert {v["flipped"] for v in others.values()} == {0}
    assert all(v["current_pass_rate"] == v["candidate_pass_rate"] for v in others.values())
    moved = [a for a in got["agents"].values() if a["candidate_score"] != a["current_score"]]
    assert moved and all(a["candidate_score"] > a["current_score"] for a in moved)
    page = (tmp_path / "bt" / "index.html").read_text(encoding="utf-8")
    check_page(tmp_path / "bt" / "index.html")
    assert "<mark>ya le dije</mark>" in page.lower()  # the current pack's evidence, highlighted


def test_backtest_figures_equal_what_scoring_under_the_candidate_gives(scored, runner, tmp_path):
    import shutil

    candidate = copy_pack(tmp_path, "cand", without_phrase("ya le dije"))
    got = backtest(runner, scored, candidate, tmp_path / "bt")
    copy = tmp_path / "copy.duckdb"
    shutil.copy(scored, copy)
    assert runner.invoke(cli, ["--db", str(copy), "score", "--rules", str(candidate)]).exit_code == 0
    con = store.connect(copy, read_only=True)
    rates = dict(con.execute("""SELECT rule_id, round(avg(passed::INTEGER) FILTER (applicable), 4)
                                FROM rule_results GROUP BY rule_id""").fetchall())
    means = dict(con.execute("""SELECT agent_name, round(avg(score), 2) FROM interaction_scores
                                JOIN interactions USING (interaction_id) GROUP BY ALL""").fetchall())
    # the flips, counted on the two packs' stored results (A kept beside B after the real scoring)
    flips = store.fetch_one(con, """
        SELECT count(*) FROM rule_outcomes a JOIN rule_outcomes b USING (interaction_id)
        JOIN rule_pack_rules pa ON pa.rule_pack_hash = a.rule_pack_hash AND pa.rule_id = 'frases_cortantes'
        JOIN rule_pack_rules pb ON pb.rule_pack_hash = b.rule_pack_hash AND pb.rule_id = 'frases_cortantes'
        WHERE a.rule_pack_hash = $a AND b.rule_pack_hash = $b
          AND substr(a.outcomes, pa.position, 1) IN ('f', 'e') AND substr(b.outcomes, pb.position, 1) = 'p'""",
                            {"a": got["current_pack"], "b": got["candidate_pack"]})[0]
    con.close()
    assert {k: v["candidate_pass_rate"] for k, v in got["rules"].items()} == rates
    assert {k: v["candidate_score"] for k, v in got["agents"].items()} == means
    assert got["rules"]["frases_cortantes"]["fail_to_pass"] == flips > 0


def test_an_identical_pack_flips_nothing(scored, runner, tmp_path):
    got = backtest(runner, scored, copy_pack(tmp_path, "same"), tmp_path / "bt", "--lang", "en")
    assert got["candidate_pack"] == got["current_pack"]
    assert {v["status"] for v in got["rules"].values()} == {"unchanged"}
    assert sum(v["flipped"] + v["na_to_applicable"] + v["applicable_to_na"] for v in got["rules"].values()) == 0
    assert all(a["candidate_score"] == a["current_score"] for a in got["agents"].values())
    page = (tmp_path / "bt" / "index.html").read_text(encoding="utf-8")
    assert "No result changes under the candidate pack." in page and '<html lang="en">' in page


def test_added_and_removed_rules_are_reported(scored, runner, tmp_path):
    def edit(name: str, text: str) -> str:
        return text
    candidate = copy_pack(tmp_path, "cand", edit)
    (candidate / "40_pci.yaml").unlink()
    (candidate / "70_nuevas.yaml").write_text(
        "rules:\n  - id: menciona_pedido\n    title: Menciona el pedido\n    field: answer\n"
        "    check: {contains_any: [pedido]}\n    weight: 1\n    severity: minor\n", encoding="utf-8")
    got = backtest(runner, scored, candidate, tmp_path / "bt")
    status = {k: v["status"] for k, v in got["rules"].items()}
    assert status["menciona_pedido"] == "added"
    assert {k for k, v in status.items() if v == "removed"} == {"pci_numero_tarjeta", "pci_pide_cvv", "pide_contrasena"}
    added, removed = got["rules"]["menciona_pedido"], got["rules"]["pci_numero_tarjeta"]
    assert added["current_pass_rate"] is None and added["candidate_pass_rate"] is not None
    assert added["na_to_applicable"] == added["candidate_applicable"] > 0
    assert removed["candidate_pass_rate"] is None and removed["applicable_to_na"] == removed["current_applicable"]


def test_hostile_titles_and_texts_are_escaped_in_the_diff_report(scored, runner, tmp_path):
    hostile = '<script>alert("t")</script> & <img src=x onerror=alert(1)>'

    def edit(name: str, text: str) -> str:
        text = without_phrase("ya le dije")(name, text)
        return text.replace('title: {es: "Sin frases cortantes", en: "No curt or dismissive phrases"}', f"title: '{hostile}'")
    con = store.connect(scored)
    iid = store.fetch_one(con, """SELECT min(interaction_id) FROM rule_results WHERE rule_id = 'frases_cortantes'
                                  AND lower(evidence) = 'ya le dije'""")[0]
    con.execute("UPDATE interactions SET agent_name = '<b>Ana</b>', answer = '<i>x</i> ' || answer WHERE interaction_id = ?",
                [iid])
    con.close()
    runner.invoke(cli, ["--db", scored, "score"])
    backtest(runner, scored, copy_pack(tmp_path, "cand", edit), tmp_path / "bt")
    page_path = tmp_path / "bt" / "index.html"
    page = page_path.read_text(encoding="utf-8")
    check_page(page_path)  # only our tags, no event handlers, nothing external
    assert "<script>" not in page and "<img" not in page and "<b>Ana</b>" not in page and "<i>x</i>" not in page
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b&gt;Ana&lt;/b&gt;" in page and "&lt;i&gt;x&lt;/i&gt;" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_a_bad_candidate_pack_exits_2_with_file_line_messages_and_writes_nothing(scored, runner, tmp_path):
    candidate = copy_pack(tmp_path, "bad", lambda name, text: text.replace("field: answer", "feild: answer", 1)
                          if name == "30_prohibidas.yaml" else text)
    before = dump(Path(scored))
    con = store.connect(scored, read_only=True)
    runs = store.fetch_one(con, "SELECT count(*) FROM runs")[0]
    con.close()
    out = tmp_path / "bt"
    result = runner.invoke(cli, ["--db", scored, "backtest", "--rules", str(candidate), "--out", str(out), "--json"])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ") and "30_prohibidas.yaml:8: rule frases_cortantes: unknown key 'feild'" in \
        result.stderr
    check = runner.invoke(cli, ["rules", "check", str(candidate)])
    assert check.exit_code == 2 and check.stderr == result.stderr  # the very messages of `rules check`
    assert not out.exists() and dump(Path(scored)) == before
    con = store.connect(scored, read_only=True)
    assert store.fetch_one(con, "SELECT count(*) FROM runs")[0] == runs
    con.close()


def test_backtest_needs_a_current_pack(sample_db, runner, tmp_path):
    result = runner.invoke(cli, ["--db", str(sample_db), "backtest", "--rules", str(copy_pack(tmp_path, "c")),
                                 "--out", str(tmp_path / "bt")])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: backtest: there is no current rule pack yet (run 'qa-scoring score' first)")
    assert not (tmp_path / "bt").exists()


def test_the_period_limits_the_interactions(scored, runner, tmp_path):
    got = backtest(runner, scored, copy_pack(tmp_path, "c"), tmp_path / "bt", "--since", "2026-11-01",
                   "--until", "2026-11-01")
    con = store.connect(scored, read_only=True)
    n = store.fetch_one(con, "SELECT count(*) FROM interactions WHERE created_at::DATE = DATE '2026-11-01'")[0]
    con.close()
    assert got["interactions"] == n > 0 and (got["since"], got["until"]) == ("2026-11-01", "2026-11-01")
