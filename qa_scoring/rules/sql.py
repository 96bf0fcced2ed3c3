"""Compilation: a rule pack → ONE set-based DuckDB query (one applicability / pass / evidence column per rule).

No Python loop over rows: the query computes every rule for every interaction of `{source}`; the
unpivot turns the wide result into `rule_results` rows. Patterns are bound as `$pN` parameters
(DuckDB compiles a bound regex once per query, measured as fast as a literal).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

import duckdb

from qa_scoring import outcomes
from qa_scoring.rules.pack import TEXT_FIELDS, TIME_FIELDS, WHEN_SPECIAL, Rule, RulePack
from qa_scoring.rules.text import (LEFT_EDGE, NEGATED_MARK, NEGATION_CUES, NOT_WORD, RIGHT_EDGE, WORD, escape_phrase, fold_regex, negation_pattern,
                                   phrase_pattern, re2_problem, sql_identifier, sql_literal)

@dataclass(frozen=True)
class CompiledPack:
    """The pack as SQL: `select_sql` reads `{source}` and yields one wide row per interaction."""

    select_sql: str
    params: dict
    rule_ids: tuple[str, ...]  # sorted: position n (1-based) in rule_outcomes.outcomes is rule_ids[n - 1]
    columns: tuple[str, ...]  # the interaction columns the query reads from `{source}`
    outcomes_sql: str  # from `{wide}`: (interaction_id, outcomes), one letter per rule (see store.py)
    evidence_sql: str  # from `{wide}`: the long evidence rows of failed rules that have one


class _Params:
    """Named query parameters; an identical pattern gets the same name, so DuckDB's common
    subexpression elimination evaluates a condition shared by several rules once."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def bind(self, value: str) -> str:
        if value not in self._names:
            self._names[value] = name = f"p{len(self.values)}"
            self.values[name] = value
        return "$" + self._names[value]


def _col(name: str) -> str:
    assert name in TEXT_FIELDS or name in TIME_FIELDS
    return sql_identifier(name)


def _blank(col: str) -> str:
    """store's qa_blank, evaluated only where it can be true (trim strips spaces only): 10x faster on long texts."""
    return (f"CASE WHEN {col} IS NULL THEN true WHEN {col} = '' OR starts_with({col}, ' ') OR "
            f"starts_with({col}, '-') THEN qa_blank({col}) ELSE false END")


def _phrase_match(col: str, phrases: list[str], rule: Rule, params: _Params,
                  screen: tuple[str, str] | None = None) -> tuple[str, str]:
    """(SQL that is true when a phrase occurs, not negated; SQL of the text the match is searched in).

    `screen` is the column's shared first pass (see _screens): ("flag", alias) is true when any
    screened phrase occurs; ("fragments", alias) holds every screened phrase occurrence, so a rule
    without negation is decided on those few characters instead of the whole text.
    """
    opts = {"case_sensitive": rule.case_sensitive, "accent_sensitive": rule.accent_sensitive}
    pattern = params.bind(phrase_pattern(phrases, **opts))
    if screen and screen[0] == "fragments" and not rule.negation:
        return f"regexp_matches({screen[1]}, {pattern})", col
    if not rule.negation:
        found, searched = f"regexp_matches({col}, {pattern})", col
    else:
        negated = params.bind(negation_pattern(phrases, **opts))
        # Keeps every offset (evidence is located in it), but capture groups run RE2's slow engines.
        searched = (f"regexp_replace({col}, {negated}, "
                    f"{params.bind(chr(92) + '1' + NEGATED_MARK + chr(92) + '2')}, 'g')")
        # Only texts with a phrase pay for the negation check, and only those with a negated phrase
        # pay for the replacement.
        found = (f"CASE WHEN NOT regexp_matches({col}, {pattern}) THEN false "
                 f"WHEN NOT regexp_matches({col}, {negated}) THEN true ")
        usable, risk = negation_risk(phrases, **opts)
        if usable:
            # Whole negated matches blanked out, found by RE2's DFA alone: the same phrase occurrences
            # survive, except on texts that `risk` finds (see negation_risk), which take the slow way.
            blanked = (f"regexp_replace({col}, {params.bind(negation_pattern(phrases, **opts, capture=False))}, "
                       f"{params.bind(' ' + NEGATED_MARK + ' ')}, 'g')")
            if risk:
                found += f"WHEN regexp_matches({col}, {params.bind(risk)}) THEN regexp_matches({searched}, {pattern}) "
            found += f"ELSE regexp_matches({blanked}, {pattern}) END"
        else:
            found += f"ELSE regexp_matches({searched}, {pattern}) END"
    if screen:
        gate = screen[1] if screen[0] == "flag" else f"regexp_matches({screen[1]}, {pattern})"
        found = f"CASE WHEN {gate} THEN {found} ELSE false END"
    return found, searched


def _in_set(col: str, values: list[str], rule: Rule, params: _Params) -> str:
    alternatives = "|".join(escape_phrase(v, case_sensitive=rule.case_sensitive,
                                          accent_sensitive=rule.accent_sensitive) for v in values)
    flags = "" if rule.case_sensitive else "(?i)"
    pattern = params.bind(flags + r"\s*(?:" + alternatives + r")\s*")
    return f"regexp_full_match({col}, {pattern})"


def _when_sql(rule: Rule, params: _Params, screens: dict | None = None) -> str:
    parts = []
    for key, value in rule.when.items():
        if key == "field_matches":
            for col, rx in value.items():
                folded = fold_regex(rx, case_sensitive=rule.case_sensitive, accent_sensitive=rule.accent_sensitive)
                parts.append(f"regexp_matches({_col(col)}, {params.bind(folded)})")
        elif key == "field_contains":
            for col, phrases in value.items():
                parts.append(_phrase_match(_col(col), phrases, rule, params, (screens or {}).get(col))[0])
        elif key == "min_length":
            for col, n in value.items():
                parts.append(f"length(trim({_col(col)})) >= {int(n)}")
        else:
            parts.append(_in_set(_col(key), value, rule, params))
    return " AND ".join(f"coalesce({p}, false)" for p in parts) or "true"


def _bounds_sql(value: str, lo: float | None, hi: float | None) -> str:
    parts = ([f"{value} >= {lo!r}"] if lo is not None else []) + ([f"{value} <= {hi!r}"] if hi is not None else [])
    return " AND ".join(parts)


def _bounds_text(lo: float | None, hi: float | None, unit: str) -> str:
    return ", ".join(([f"min {lo:g}"] if lo is not None else []) + ([f"max {hi:g}"] if hi is not None else [])) + f" {unit}"


def _locate(text: str, pattern: str, groups: str | None) -> str:
    """A struct {pre, edge, m}: the text before the first match, the word-edge character, the phrase.

    Only whole-match searches run on the long text (RE2 finds a match's bounds with its fast DFA);
    capture groups (slow engines) run on the short match only. 4.5x faster than one regex with a
    `^(.*?)` prefix group, measured on 50k failing answers.
    """
    before = f"string_split_regex({text}, {pattern})[1]"
    match = f"regexp_extract({text}, {pattern})"
    if groups is None:
        return f"struct_pack(pre := {before}, edge := '', m := {match})"
    return f"struct_insert(regexp_extract({match}, {groups}, ['edge', 'm']), pre := {before})"


def _words_at_least(col: str, n: int, params: _Params) -> str:
    """SQL: the text has at least n words (runs of non-space), deciding cheaply when it can.

    n characters hold at most (n + 1) / 2 words, and w white-space characters at most w + 1 words;
    only texts that pass both bounds run the regex, which stops at the n-th word.
    """
    if n <= 1:
        return f"regexp_matches({col}, '\\S')"
    spaces = col
    for code in (32, 9, 10, 12, 13):  # RE2's \s
        spaces = f"replace({spaces}, chr({code}), '')"
    if n > 1000:  # RE2 caps counted repetition at 1000
        exact = f"len(regexp_extract_all({col}, '\\S+')) >= {n}"
    else:
        pattern = params.bind(r"(?:\S+\s+){" + str(n - 1) + r"}\S")
        exact = f"regexp_matches({col}, {pattern})"
    return (f"CASE WHEN length({col}) < {2 * n - 1} THEN false "
            f"WHEN length({col}) - length({spaces}) + 1 < {n} THEN false ELSE {exact} END")


def _rule_sql(rule: Rule, params: _Params, screens: dict | None = None) -> tuple[str, str, str | None, str | None]:
    """(applicable, passed, evidence_extract, value_evidence) SQL for one rule.

    evidence_extract: a regexp_extract struct {pre, edge, m} on failing rows (text evidence);
    value_evidence: a text on failing rows (out-of-bounds value, value not allowed).
    """
    when = _when_sql(rule, params, screens)
    col = _col(rule.field) if rule.field else None
    kind, arg = rule.kind, rule.arg
    if kind == "not_empty":
        return when, f"NOT {_blank(col)}", None, None
    if kind == "duration":
        ends = f"{_col(arg['from'])} IS NOT NULL AND {_col(arg['to'])} IS NOT NULL"
        seconds = f"date_diff('second', {_col(arg['from'])}, {_col(arg['to'])})"
        return (f"{when} AND {ends}", _bounds_sql(seconds, arg["min_seconds"], arg["max_seconds"]), None,
                f"{seconds}::VARCHAR || ' s ({_bounds_text(arg['min_seconds'], arg['max_seconds'], 's').strip()})'")
    applicable = f"{when} AND NOT {_blank(col)}"
    opts = {"case_sensitive": rule.case_sensitive, "accent_sensitive": rule.accent_sensitive}
    if kind in ("contains_any", "contains_none"):
        if kind == "contains_any":  # common phrases (a greeting): no shared screen, they are found early
            return applicable, _phrase_match(col, arg, rule, params)[0], None, None
        found, searched = _phrase_match(col, arg, rule, params, (screens or {}).get(rule.field))
        alternatives = "|".join(escape_phrase(p, **opts) for p in arg)
        groups = ("" if rule.case_sensitive else "(?i)") + f"(^|{NOT_WORD})((?:{alternatives})){RIGHT_EDGE}"
        return applicable, f"NOT {found}", _locate(searched, params.bind(phrase_pattern(arg, **opts)),
                                                   params.bind(groups)), None
    if kind in ("matches", "not_matches"):
        folded = fold_regex(arg, **opts)
        found = f"regexp_matches({col}, {params.bind(folded)})"
        if kind == "matches":
            return applicable, found, None, None
        return applicable, f"NOT {found}", _locate(col, params.bind(folded), None), None
    if kind == "length":
        value = f"length({col})" if arg["unit"] == "chars" else f"len(regexp_extract_all({col}, '[^\\s]+'))"
        text = f"{value}::VARCHAR || ' {arg['unit']} ({_bounds_text(arg['min'], arg['max'], arg['unit']).strip()})'"
        lo, hi = arg["min"], arg["max"]
        if arg["unit"] == "chars":
            return applicable, _bounds_sql(value, lo, hi), None, text
        # "At least n words" is a regex that stops at the n-th word: far cheaper than counting them all.
        parts = ([_words_at_least(col, math.ceil(lo), params)] if lo else []) + \
                ([f"NOT {_words_at_least(col, math.floor(hi) + 1, params)}"] if hi is not None else [])
        return applicable, " AND ".join(parts) or "true", None, text
    member = _in_set(col, arg, rule, params)
    value_text = f"left(trim({col}), 200)"
    return applicable, member if kind == "in_set" else f"NOT {member}", None, value_text


def _fold(text: str) -> str:
    """Case, accents, apostrophes and white space folded: for comparing phrases at compile time
    (folds at least as much as the RE2 patterns do, so overlaps found here are a superset)."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(text.casefold().replace("’", "'").replace("`", "'").replace("´", "'").split())


def _is_word_char(ch: str) -> bool:
    return ch == "_" or unicodedata.category(ch)[0] in "LN"


def _words(text: str) -> list[str]:
    """The runs of word characters of `text`."""
    return [w for w in "".join(c if _is_word_char(c) else " " for c in text).split()]


_CUE_WORDS = frozenset(w for cue in NEGATION_CUES for w in _words(_fold(cue)))


def negation_risk(phrases: list[str], *, case_sensitive: bool = False,
                  accent_sensitive: bool = False) -> tuple[bool, str | None]:
    """(usable, risk): whether blanking out each whole negation match (cue .. phrase .. edge) can
    stand in for spoiling only the negated phrase's first character, and an RE2 pattern that finds
    the texts where it cannot (None: no text).

    The matches are the same either way; a whole-match blank also removes the occurrences inside a
    match that do not hold the spoiled character. Such an occurrence either has a word that is a
    cue word (it starts at, or runs into, the cue), or an edge or second character that is not a
    letter, or a one-letter first word (then the pattern's `.` plus the rest of the phrase does not
    line up with it, and the lazy window need not have negated it instead), or it starts at a later
    word of the negated phrase ("disculpas" in "no pido disculpas"). A text with an occurrence of
    the first kinds, or with the rest of a phrase of the last kind, is a risk. Folded comparison
    (at least as loose as the patterns), so a doubtful phrase is a risk.
    """
    risky, folded = [], []
    for phrase in phrases:
        text = phrase.strip()
        key = _fold(text).replace("ı", "i")
        if NEGATED_MARK in key:
            return False, None
        if len(text) < 2 or not all(_is_word_char(c) for c in (text[0], text[1], text[-1])) or \
                any(w in _CUE_WORDS for w in _words(key)):
            risky.append(text)
        folded.append((text, key))
    containers = []
    for text, p in folded:
        for i in range(1, len(p)):
            if _is_word_char(p[i]) and not _is_word_char(p[i - 1]):
                rest = p[i:]
                if any(q.startswith(rest) or rest.startswith(q) for _, q in folded):
                    containers.append(text)
                    break
    opts = {"case_sensitive": case_sensitive, "accent_sensitive": accent_sensitive}
    parts = ([f"{LEFT_EDGE}(?:{'|'.join(escape_phrase(t, **opts) for t in risky)}){RIGHT_EDGE}"] if risky else []) + \
            [escape_phrase(t[1:], **opts) for t in containers]  # the rest as the negation pattern has it
    if not parts:
        return True, None
    return True, ("" if case_sensitive else "(?i)") + "(?:" + "|".join(parts) + ")"


MAX_FRAGMENT_ALTERNATIVES = 300


def _overlaps(q: str, p: str) -> list[str]:
    """Folded phrases: each way `p` can start at a word inside `q` and run on past the end of
    q's last word, as the merged text q[:i] + p."""
    out = []
    for i in range(1, len(q)):
        if not _is_word_char(q[i - 1]) and _is_word_char(q[i]):
            suffix = q[i:]
            if p.startswith(suffix) and not all(_is_word_char(c) for c in p[len(suffix):]):
                out.append(q[:i] + p)
    return out


def _fragment_pattern(lists: list[tuple[list[str], dict]]) -> str | None:
    """RE2 whose every match (regexp_extract_all) is a whole-word screened phrase plus the rest of
    its word, or None when that cannot be made exact for these phrases.

    Exact means: a rule's phrase occurs as whole words in the text if and only if it occurs in the
    joined matches. That holds when (1) every phrase starts and ends with a letter or digit (a match
    ends at a letter, so it never swallows the next phrase's left edge), (2) alternatives are tried
    longest first (at one start the longest phrase wins and contains the shorter ones), and (3) when
    a phrase can start inside another and run past it ("culpa de usted" / "usted no entiende"), the
    merged text is an alternative too, so the longer match covers both. Tested against the plain
    patterns on hostile and random texts (tests/test_rules.py).
    """
    alternatives: dict[str, str] = {}  # folded text -> RE2 alternative
    for phrases, opts in lists:
        for phrase in phrases:
            text = phrase.strip()
            if not text or not (_is_word_char(text[0]) and _is_word_char(text[-1])):
                return None
            body = escape_phrase(text, **opts)
            key = _fold(text)
            alternative = body if opts["case_sensitive"] else f"(?i:{body})"
            alternatives[key] = alternative if key not in alternatives else f"{alternatives[key]}|{alternative}"
    pending = list(alternatives)
    while pending:
        q = pending.pop()
        for p in list(alternatives):
            for merged in _overlaps(q, p) + _overlaps(p, q):
                if merged not in alternatives:
                    if len(alternatives) >= MAX_FRAGMENT_ALTERNATIVES:
                        return None
                    # Folded and matched loosely (any case and accents): a wider fragment is harmless.
                    alternatives[merged] = f"(?i:{escape_phrase(merged)})"
                    pending.append(merged)
    ordered = [alternatives[k] for k in sorted(alternatives, key=lambda k: (-len(k), k))]
    pattern = f"{LEFT_EDGE}(?:{'|'.join(ordered)}){WORD}*"
    return pattern if re2_problem(pattern) is None else None


def _screens(pack: RulePack) -> dict[str, tuple[str, str]]:
    """Per column, one shared pass for the phrase lists that rarely match: contains_none checks
    (forbidden phrases) and when.field_contains triggers (an upset customer, a late follow-up).

    Each such list would scan every text to its end. One pass per column instead extracts every
    occurrence of any of them ("fragments"; usually none, a few words when some): each rule then
    runs on those few characters. When that is not exact for the phrases (see _fragment_pattern),
    the pass is a plain union ("flag") and only flagged texts run each rule's own pattern.
    User regexes (not_matches) are not merged: a union of counted repetitions blew up RE2's DFA
    (measured 200x slower). Returns {column: (kind, RE2 pattern)}.
    """
    found: dict[str, list[tuple[list[str], dict]]] = {}
    for rule in pack.rules:
        opts = {"case_sensitive": rule.case_sensitive, "accent_sensitive": rule.accent_sensitive}
        if rule.kind == "contains_none":
            found.setdefault(rule.field, []).append((rule.arg, opts))
        for column, phrases in rule.when.get("field_contains", {}).items():
            found.setdefault(column, []).append((phrases, opts))
    out = {}
    for column, lists in found.items():
        if len(lists) < 2:  # one list: its own pattern is already one pass
            continue
        fragments = _fragment_pattern(lists)
        if fragments:
            out[column] = ("fragments", fragments)
            continue
        union = "|".join(f"(?:{phrase_pattern(phrases, **opts)})" for phrases, opts in lists)
        if re2_problem(union) is None:
            out[column] = ("flag", union)
    return out


def _sum(terms: list[str]) -> str:
    """SQL of the sum of `terms`, added left to right like a `+` chain (the same DOUBLE result)."""
    return f"list_sum([{', '.join(terms)}])"


def compile_rule_pack(pack: RulePack) -> CompiledPack:
    """One SELECT over `{source}` computing every rule (set-based), plus the unpivot to long form."""
    params = _Params()
    level0, level1, level_pass, level2, level3, groups = [], [], [], [], [], []
    screens = {}
    for column, (kind, pattern) in _screens(pack).items():
        alias = f"s_{TEXT_FIELDS.index(column)}"
        if kind == "flag":
            level0.append(f"coalesce(regexp_matches({_col(column)}, {params.bind(pattern)}), false) AS {alias}")
        else:  # chr(31) between matches: not a letter, so it is a word edge for the rules' patterns
            level0.append(f"coalesce(array_to_string(regexp_extract_all({_col(column)}, {params.bind(pattern)}), "
                          f"chr(31)), '') AS {alias}")
        screens[column] = (kind, alias)
    app_terms, pass_terms, fail_terms, crit_terms, n_app_terms = [], [], [], [], []
    letters: dict[str, str] = {}  # rule id -> SQL of its outcome letter (outcomes.py)
    evidence_columns, evidence_fields = [], {}  # only rules that can carry evidence get columns
    for i, rule in enumerate(pack.rules):
        applicable, passed, extract, value_evidence = _rule_sql(rule, params, screens)
        level1.append(f"coalesce({applicable}, false) AS a{i}")
        level_pass.append(f"CASE WHEN a{i} THEN coalesce({passed}, false) END AS p{i}")
        failed = f"(a{i} AND NOT p{i})"
        if extract:
            level2.append(f"CASE WHEN {failed} THEN {extract} END AS x{i}")
            start = f"(length(x{i}.pre) + length(x{i}.edge))"
            level3.append(f"substring({_col(rule.field)}, {start} + 1, length(x{i}.m)) AS ev{i}")
            evidence_columns += [f"ev{i}", f"{start}::INTEGER AS es{i}", f"({start} + length(x{i}.m))::INTEGER AS ee{i}"]
        elif value_evidence:
            level3.append(f"CASE WHEN {failed} THEN {value_evidence} END AS ev{i}")
            evidence_columns += [f"ev{i}", f"NULL::INTEGER AS es{i}", f"NULL::INTEGER AS ee{i}"]
        if extract or value_evidence:
            groups.append(f"(ev{i}, es{i}, ee{i}) AS {sql_identifier(rule.id)}")
            evidence_fields[rule.id] = rule.field or rule.arg.get("to")
            letters[rule.id] = outcomes.letter_sql(f"a{i}", f"p{i}", f"ev{i}")
        else:
            letters[rule.id] = outcomes.letter_sql(f"a{i}", f"p{i}")
        weight = repr(rule.weight)
        n_app_terms.append(f"a{i}::INTEGER")
        app_terms.append(f"{weight} * a{i}::INTEGER")
        pass_terms.append(f"{weight} * coalesce(p{i}, false)::INTEGER")
        fail_terms.append(f"coalesce({failed}, false)::INTEGER")
        if rule.severity == "critical":
            crit_terms.append(f"coalesce({failed}, false)")
    # One flat list per total, not a `+` / `OR` chain: a chain nests one level per rule, and DuckDB's
    # parser stops at 1,000 levels (a pack of 1,000 rules failed).
    critical = f"list_bool_or([{', '.join(crit_terms)}])" if crit_terms else "false"
    columns = sorted({r.field for r in pack.rules if r.field} | {c for r in pack.rules for c in r.when
                                                                  if c not in WHEN_SPECIAL}
                     | {c for r in pack.rules for k in WHEN_SPECIAL for c in r.when.get(k, {})}
                     | {r.arg[end] for r in pack.rules if r.kind == "duration" for end in ("from", "to")})
    carry = ", ".join(_col(c) for c in columns)
    rule_ids = tuple(sorted(letters))
    # Only what is stored leaves the query: the score terms, one outcome letter per rule, and the
    # evidence columns (NULL unless failed). A wide table of every a/p/evidence column per rule
    # cost 1.3 s more per 1M rows to materialise.
    select_sql = f"""
    SELECT interaction_id, content_hash,
           {_sum(n_app_terms)}::INTEGER AS rules_applicable,
           {_sum(fail_terms)}::INTEGER AS rules_failed,
           {critical} AS critical_failed,
           {_sum(app_terms)} AS weight_applicable,
           {_sum(pass_terms)} AS weight_passed,
           concat({', '.join(letters[r] for r in rule_ids)}) AS outcomes{''.join(', ' + c for c in evidence_columns)}
    FROM (
        SELECT *{''.join(', ' + c for c in level3)}
        FROM (SELECT *{''.join(', ' + c for c in level2)}
              FROM (SELECT *, {', '.join(level_pass)}
                    FROM (SELECT *, {', '.join(level1)}
                          FROM (SELECT {', '.join(['interaction_id', 'content_hash'] + [carry] * bool(carry) + level0)}
                                FROM {{source}}))))
    )"""
    outcomes_sql = "SELECT interaction_id, outcomes FROM {wide}"
    if groups:
        # A join, not `CASE rule_id WHEN …`: that CASE tried every rule on every row (183 s for 2,000 rules).
        field_of = ", ".join(f"({sql_literal(r)}, {sql_literal(f)})" for r, f in evidence_fields.items())
        evidence_sql = f"""SELECT u.interaction_id, u.rule_id, u.evidence, f.evidence_field, u.evidence_start, u.evidence_end
        FROM (SELECT * FROM {{wide}} UNPIVOT INCLUDE NULLS ((evidence, evidence_start, evidence_end)
                                                      FOR rule_id IN ({', '.join(groups)}))
              WHERE evidence IS NOT NULL) u
        JOIN (VALUES {field_of}) f(rule_id, evidence_field) ON f.rule_id = u.rule_id"""
    else:
        evidence_sql = ("SELECT interaction_id, NULL::VARCHAR AS rule_id, NULL::VARCHAR AS evidence, NULL::VARCHAR AS "
                        "evidence_field, NULL::INTEGER AS evidence_start, NULL::INTEGER AS evidence_end FROM {wide} "
                        "WHERE false")
    used = set(re.findall(r"\$(p[0-9]+)\b", select_sql))  # a rule that reads no evidence leaves its rewrite unused
    return CompiledPack(select_sql=select_sql, params={k: v for k, v in params.values.items() if k in used}, rule_ids=rule_ids,
                        columns=("interaction_id", "content_hash", *columns), outcomes_sql=outcomes_sql, evidence_sql=evidence_sql)


def _evaluate(con: duckdb.DuckDBPyConnection, compiled: CompiledPack, source: str, wide: str) -> None:
    """Materialise the wide per-rule table `wide` for the interactions of `source` (one query)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {wide} AS " + compiled.select_sql.format(source=source),
                compiled.params)
