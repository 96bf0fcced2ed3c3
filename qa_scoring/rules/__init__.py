"""The rules stage: YAML rule packs → validated rules → ONE set-based DuckDB query → rule_results.

A rule pack is a folder of `*.yaml` files (the language is documented in rules/README.md, a contract).
`load_rule_pack` reads and validates every file and reports *every* problem as `file:line: rule <id>:
<what>`; regexes are validated with DuckDB's own RE2 at load time. `compile_rule_pack` turns the pack
into one SELECT with one applicability / pass / evidence column per rule; `score_interactions` runs
it over new or changed interactions and unpivots it into `rule_results` + `interaction_scores` in one
transaction; `check_rule_pack` runs every rule's examples through the very same SQL.

Modules: `text` (folding, phrase / negation patterns, RE2 validation, SQL quoting), `pack` (YAML and
validation), `sql` (compilation), `score` (scoring and self-tests).
"""

from qa_scoring.rules.pack import RulePack, Rule, load_rule_pack
from qa_scoring.rules.score import CheckSummary, ScoreSummary, check_rule_pack, default_rules_dir, score_interactions
from qa_scoring.rules.sql import CompiledPack, compile_rule_pack
from qa_scoring.rules.text import (escape_phrase, fold_regex, negation_pattern, phrase_pattern, re2_problem,
                                   sql_identifier, sql_literal)

__all__ = ["CheckSummary", "CompiledPack", "Rule", "RulePack", "ScoreSummary", "check_rule_pack",
           "compile_rule_pack", "default_rules_dir", "escape_phrase", "fold_regex", "load_rule_pack",
           "negation_pattern", "phrase_pattern", "re2_problem", "score_interactions", "sql_identifier",
           "sql_literal"]
