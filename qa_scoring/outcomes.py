"""The compact rule-outcome format: its one owner (reader and writer SQL for every stage).

A pack's rules are sorted by id and numbered from 1 (`rule_pack_rules.position`); one
`rule_outcomes` row per interaction and pack holds one letter per rule at its position:

    n  not applicable          p  passed
    f  failed                  e  failed, with a `rule_evidence` row (the match or the value)
    -  no result (only from `store.insert_rule_results` when a long row was missing)

Everything that reads or writes the letters goes through this module: the rule query
(`letter_sql`), the contract views (`RULE_RESULTS_VIEW`, `RULE_OUTCOME_ROWS_VIEW`), the report's
counts (`rule_counts_sql`), its review list (`failed_rules_sql`), the classifier's rule features
(through the views) and backtest. The views show the *current* pack only (`rule_packs.is_current`):
the results of other packs are kept beside it (see rules/stored.py).
"""

from __future__ import annotations

NOT_APPLICABLE, PASSED, FAILED, FAILED_WITH_EVIDENCE, NO_RESULT = "n", "p", "f", "e", "-"
FAILED_LETTERS = f"('{FAILED}', '{FAILED_WITH_EVIDENCE}')"

# A failed rule's long row has evidence (text match or out-of-bounds value): kept in rule_evidence.
EVIDENCE_ROW = "(evidence IS NOT NULL OR evidence_field IS NOT NULL)"
CURRENT_PACK = "(SELECT rule_pack_hash FROM rule_packs WHERE is_current)"


def letter_sql(applicable: str, passed: str, evidence: str | None = None) -> str:
    """SQL of one rule's letter from its applicable / passed flags (and evidence, when it can have one)."""
    with_evidence = f"WHEN {evidence} IS NOT NULL THEN '{FAILED_WITH_EVIDENCE}' " if evidence else ""
    return (f"CASE WHEN NOT {applicable} THEN '{NOT_APPLICABLE}' WHEN {passed} THEN '{PASSED}' "
            f"{with_evidence}ELSE '{FAILED}' END")


def letter_at(outcomes: str, position: str) -> str:
    """SQL of the letter at a rule's position."""
    return f"substr({outcomes}, {position}, 1)"


def _long_rows(evidence: bool) -> str:
    letter = letter_at("o.outcomes", "r.position")
    extra = ("NULL::VARCHAR AS evidence, NULL::VARCHAR AS evidence_field, "
             "NULL::INTEGER AS evidence_start, NULL::INTEGER AS evidence_end, ") if evidence else ""
    skip = f"('{FAILED_WITH_EVIDENCE}', '{NO_RESULT}')" if evidence else f"('{NO_RESULT}')"
    return f"""SELECT o.interaction_id, r.rule_id,
           {letter} <> '{NOT_APPLICABLE}' AS applicable,
           CASE WHEN {letter} <> '{NOT_APPLICABLE}' THEN {letter} = '{PASSED}' END AS passed,
           {extra}o.rule_pack_hash, o.run_id
    FROM rule_outcomes o JOIN rule_pack_rules r ON r.rule_pack_hash = o.rule_pack_hash
    WHERE {letter} NOT IN {skip} AND o.rule_pack_hash IN {CURRENT_PACK}"""


# The contract relation, one row per interaction and rule of the current pack (schema v4).
RULE_RESULTS_VIEW = f"""
    CREATE OR REPLACE VIEW rule_results AS
    {_long_rows(evidence=True)}
    UNION ALL
    SELECT interaction_id, rule_id, true, false, evidence, evidence_field, evidence_start, evidence_end,
           rule_pack_hash, run_id
    FROM rule_evidence WHERE rule_pack_hash IN {CURRENT_PACK};
"""
# rule_results without the evidence columns: what counts need.
RULE_OUTCOME_ROWS_VIEW = f"""
    CREATE OR REPLACE VIEW rule_outcome_rows AS
    {_long_rows(evidence=False)};
"""


def compact_rule_results_sql(source: str) -> str:
    """SQL storing long-form rule results (the contract columns, in table `source`) compactly."""
    evidence = EVIDENCE_ROW.replace("evidence", "r.evidence")
    return f"""
    INSERT INTO rule_pack_rules (rule_pack_hash, position, rule_id)
        SELECT rule_pack_hash, row_number() OVER (PARTITION BY rule_pack_hash ORDER BY rule_id), rule_id
        FROM (SELECT DISTINCT rule_pack_hash, rule_id FROM {source})
        ON CONFLICT DO NOTHING;
    INSERT INTO rule_evidence
        SELECT interaction_id, rule_id, evidence, evidence_field, evidence_start, evidence_end, rule_pack_hash, run_id
        FROM {source} WHERE applicable AND NOT passed AND {EVIDENCE_ROW};
    INSERT INTO rule_outcomes
        SELECT i.interaction_id,
               string_agg(CASE WHEN r.rule_id IS NULL THEN '{NO_RESULT}' WHEN NOT r.applicable THEN '{NOT_APPLICABLE}'
                               WHEN r.passed THEN '{PASSED}' WHEN {evidence} THEN '{FAILED_WITH_EVIDENCE}'
                               ELSE '{FAILED}' END, ''
                          ORDER BY p.position),
               i.rule_pack_hash, any_value(r.run_id)
        FROM (SELECT DISTINCT interaction_id, rule_pack_hash FROM {source}) i
        JOIN rule_pack_rules p USING (rule_pack_hash)
        LEFT JOIN {source} r ON r.interaction_id = i.interaction_id AND r.rule_pack_hash = i.rule_pack_hash
                            AND r.rule_id = p.rule_id
        GROUP BY i.interaction_id, i.rule_pack_hash;
    """


def rule_counts_sql(grouped: str, keys: tuple[str, ...]) -> str:
    """Per `keys` x rule: total, applicable, passed, and the survey split of failed / passed rows.

    `grouped` is a relation with the columns `keys`, rule_pack_hash, outcomes, dissatisfied
    (TRUE / FALSE / NULL) and n (how many interactions share them): counting on grouped letters,
    then spreading them over the rules, never builds one row per interaction and rule.
    """
    by = "".join(f"{k}, " for k in keys)
    letter = letter_at("g.outcomes", "r.position")
    return f"""
        WITH spread AS (
            SELECT g.*, r.rule_id, {letter} AS letter
            FROM ({grouped}) g JOIN rule_pack_rules r ON r.rule_pack_hash = g.rule_pack_hash)
        SELECT {by}rule_id,
               sum(n)::BIGINT AS total,
               coalesce(sum(n) FILTER (letter <> '{NOT_APPLICABLE}'), 0)::BIGINT AS app,
               coalesce(sum(n) FILTER (letter = '{PASSED}'), 0)::BIGINT AS pass,
               coalesce(sum(n) FILTER (letter IN {FAILED_LETTERS} AND dissatisfied IS NOT NULL), 0)::BIGINT AS fail_lab,
               coalesce(sum(n) FILTER (letter IN {FAILED_LETTERS} AND dissatisfied), 0)::BIGINT AS fail_dis,
               coalesce(sum(n) FILTER (letter = '{PASSED}' AND dissatisfied IS NOT NULL), 0)::BIGINT AS pass_lab,
               coalesce(sum(n) FILTER (letter = '{PASSED}' AND dissatisfied), 0)::BIGINT AS pass_dis
        FROM spread WHERE letter <> '{NO_RESULT}'
        GROUP BY ALL"""


def failed_rules_sql(wanted: str, outcomes: str = "rule_outcomes", evidence: str = "rule_evidence") -> str:
    """(interaction_id, rule_id, evidence, evidence_field, evidence_start, evidence_end) of every failed
    rule of the (interaction_id, rule_pack_hash) pairs in relation `wanted`, ordered.

    The compact tables are narrowed to those interactions first, then expanded: through the
    rule_results view a day's review read the whole month's rows (1.6 s with 31 rules x 3M
    interactions; 0.07 s like this).
    """
    return f"""
        WITH o AS (SELECT o.* FROM {outcomes} o SEMI JOIN {wanted} r
                     ON o.interaction_id = r.interaction_id AND o.rule_pack_hash = r.rule_pack_hash),
             e AS (SELECT e.* FROM {evidence} e SEMI JOIN {wanted} r
                     ON e.interaction_id = r.interaction_id AND e.rule_pack_hash = r.rule_pack_hash)
        SELECT o.interaction_id, p.rule_id, e.evidence, e.evidence_field, e.evidence_start, e.evidence_end
        FROM o JOIN rule_pack_rules p ON p.rule_pack_hash = o.rule_pack_hash
        LEFT JOIN e ON e.interaction_id = o.interaction_id AND e.rule_id = p.rule_id
                   AND e.rule_pack_hash = o.rule_pack_hash
        WHERE {letter_at('o.outcomes', 'p.position')} IN {FAILED_LETTERS}
        ORDER BY o.interaction_id, p.rule_id, e.evidence_start NULLS LAST"""
