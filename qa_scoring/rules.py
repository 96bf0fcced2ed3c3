"""The rules stage: YAML rule packs → validated rules → ONE set-based DuckDB query → rule_results.

A rule pack is a folder of `*.yaml` files (the language is documented in rules/README.md, a contract).
`load_rule_pack` reads and validates every file and reports *every* problem as `file:line: rule <id>:
<what>`; regexes are validated with DuckDB's own RE2 at load time. `compile_rule_pack` turns the pack
into one SELECT with one applicability / pass / evidence column per rule; `score_interactions` runs
it over new or changed interactions and unpivots it into `rule_results` + `interaction_scores` in one
transaction; `check_rule_pack` runs every rule's examples through the very same SQL.

Text matching (one helper, `fold_regex`): patterns run on the RAW text as case-insensitive RE2 with
accent classes (a → [aáàâä], ...), because DuckDB's strip_accents is slow (see MEASURED.md); whole
words use boundaries that know accented letters (`(?:^|[^\\pL\\pN_])`), since RE2's `\\b` is ASCII.
Phrases and patterns are bound as query parameters, never pasted into SQL text.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import math
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from qa_scoring import store
from qa_scoring.errors import RulePackError

log = logging.getLogger(__name__)

ENGINE_VERSION = "1"  # part of the pack hash: a change in how rules compile rescoring everything
FIELD_ALIASES = {"from": "from_addr", "to": "to_addr"}
TEXT_FIELDS = tuple(store.TEXT_COLUMNS)
TIME_FIELDS = ("created_at", "closed_at")
TEXT_KINDS = ("contains_any", "contains_none", "matches", "not_matches", "length", "in_set", "not_in_set")
CHECK_KINDS = TEXT_KINDS + ("not_empty", "duration")
SEVERITIES = ("minor", "major", "critical")
RULE_KEYS = ("id", "title", "description", "field", "when", "check", "negation", "weight", "severity",
             "examples", "case_sensitive", "accent_sensitive")
REQUIRED_KEYS = ("id", "title", "check", "weight", "severity")
WHEN_SPECIAL = ("field_matches", "field_contains", "min_length")
ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")

# Word boundaries that know accented letters (RE2's \b is ASCII-only, and RE2 has no lookaround).
WORD = r"[\pL\pN_]"
NOT_WORD = r"[^\pL\pN_]"
LEFT_EDGE = rf"(?:^|{NOT_WORD})"
RIGHT_EDGE = rf"(?:$|{NOT_WORD})"
# Lower-case accent classes; upper-case ones are derived. `(?i)` covers case when case-insensitive.
ACCENT_CLASSES = {"a": "aáàâäã", "e": "eéèêë", "i": "iíìîï", "o": "oóòôöõ", "u": "uúùûü", "n": "nñ",
                  "c": "cç", "'": "'’`´"}
# A negated phrase: a negation cue, then at most two words, then the phrase.
NEGATION_CUES = ("no", "nunca", "jamás", "sin", "tampoco", "ni", "ningún", "ninguna", "ninguno",
                 "not", "never", "without", "nor", "neither", "don't", "dont", "doesn't", "didn't",
                 "isn't", "wasn't", "aren't", "won't", "can't", "cannot")
NEGATION_WINDOW = 2  # words allowed between the cue and the phrase
NEGATED_MARK = "ǂ"  # a letter (so word boundaries do not move) that no phrase contains

_UNSUPPORTED = (  # RE2 error text → what the user wrote that RE2 does not support
    ("(?=", "look-ahead (?=...)"), ("(?!", "negative look-ahead (?!...)"),
    ("(?<=", "look-behind (?<=...)"), ("(?<!", "negative look-behind (?<!...)"),
    ("(?>", "atomic group (?>...)"), ("(?<", "named group (?<name>...); write (?P<name>...)"),
)


# --- folding: one helper for every text check ---------------------------------------------------

def _char_class(ch: str, case_sensitive: bool, accent_sensitive: bool) -> str:
    """The RE2 for one literal character of a phrase."""
    if ch.isspace():
        return r"\s+"
    base = unicodedata.normalize("NFKD", ch)[0]
    key = base.lower() if base.isascii() else ch.lower()
    if ch in "'’":
        key = "'"
    if not accent_sensitive and key in ACCENT_CLASSES:
        variants = ACCENT_CLASSES[key]
        if case_sensitive and ch.isupper():
            variants = variants.upper()
        return "[" + variants + "]"
    if ch.isascii() and not ch.isalnum():
        return "\\" + ch
    return ch


def escape_phrase(phrase: str, *, case_sensitive: bool = False, accent_sensitive: bool = False) -> str:
    """A user phrase as an RE2 fragment matching it literally (folded unless told otherwise)."""
    out: list[str] = []
    for ch in phrase.strip():
        piece = _char_class(ch, case_sensitive, accent_sensitive)
        if piece == r"\s+" and out and out[-1] == r"\s+":
            continue
        out.append(piece)
    return "".join(out)


def fold_regex(pattern: str, *, case_sensitive: bool = False, accent_sensitive: bool = False,
               literal: bool = False) -> str:
    """The one folding helper: a phrase (literal=True) or a user RE2 pattern made case/accent-insensitive.

    Literal letters outside character classes become accent classes; letters inside a class get
    their accented variants appended (ranges such as [a-z] stay ASCII: use \\pL for any letter).
    """
    flags = "" if case_sensitive else "(?i)"
    if literal:
        return flags + escape_phrase(pattern, case_sensitive=case_sensitive, accent_sensitive=accent_sensitive)
    if accent_sensitive:
        return flags + pattern
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            j = i + 2
            if pattern[i + 1:i + 2] in ("p", "P", "x") and pattern[i + 2:i + 3] == "{":
                j = pattern.find("}", i) + 1 or n
            elif pattern[i + 1:i + 2] == "Q":
                j = pattern.find("\\E", i) + 2 if "\\E" in pattern[i:] else n
            out.append(pattern[i:j])
            i = j
        elif ch == "(" and pattern[i + 1:i + 2] == "?":
            j = i + 2
            while j < n and pattern[j] not in ":)>":
                j += 1
            out.append(pattern[i:j + 1])
            i = j + 1
        elif ch == "[":
            j = i + 1
            if pattern[j:j + 1] == "^":
                j += 1
            if pattern[j:j + 1] == "]":
                j += 1
            extra = ""
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\":
                    j += 2
                    continue
                if pattern[j:j + 2] == "[:":
                    j = pattern.find(":]", j) + 2 or n
                    continue
                c = pattern[j]
                in_range = pattern[j + 1:j + 2] == "-" or pattern[j - 1:j] == "-"
                if not in_range and c.lower() in ACCENT_CLASSES and c.isalpha():
                    variants = ACCENT_CLASSES[c.lower()][1:]
                    extra += variants.upper() if case_sensitive and c.isupper() else variants
                j += 1
            out.append(pattern[i:j] + extra + pattern[j:j + 1])
            i = j + 1
        elif ch.isalpha() and ch.isascii() and ch.lower() in ACCENT_CLASSES:
            out.append(_char_class(ch, case_sensitive, False))
            i += 1
        else:
            out.append(ch)
            i += 1
    return flags + "".join(out)


def phrase_pattern(phrases: list[str], *, case_sensitive: bool = False, accent_sensitive: bool = False) -> str:
    """RE2 that finds any of `phrases` as whole words."""
    alternatives = "|".join(escape_phrase(p, case_sensitive=case_sensitive, accent_sensitive=accent_sensitive)
                            for p in phrases)
    return ("" if case_sensitive else "(?i)") + f"{LEFT_EDGE}(?:{alternatives}){RIGHT_EDGE}"


def negation_pattern(phrases: list[str], *, case_sensitive: bool = False, accent_sensitive: bool = False) -> str:
    """RE2 for a phrase preceded (within a few words) by a negation cue.

    Group 1 is everything up to the phrase, group 2 the phrase minus its first character: replacing
    matches with `\\1ǂ\\2` spoils exactly the negated occurrences while keeping every character offset.
    """
    cues = "|".join(escape_phrase(c) for c in NEGATION_CUES)
    rests = "|".join(escape_phrase(p.strip()[1:], case_sensitive=case_sensitive, accent_sensitive=accent_sensitive)
                     if len(p.strip()) > 1 else "" for p in phrases)
    gap = r"[^\pL\pN_.!?;]+"  # the cue's reach stops at the end of a sentence
    context = f"(?:{gap}{WORD}+){{0,{NEGATION_WINDOW}}}?{gap}"
    head = "(?i)" if not case_sensitive else ""
    return f"{head}({LEFT_EDGE}(?i:{cues}){context})(?s:.)((?:{rests}){RIGHT_EDGE})"


def sql_literal(value: str) -> str:
    """A SQL string literal (the one escaping helper; prefer bound parameters)."""
    if "\x00" in value:
        raise ValueError("NUL character in SQL literal")
    return "'" + value.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A quoted SQL identifier."""
    if "\x00" in name:
        raise ValueError("NUL character in SQL identifier")
    return '"' + name.replace('"', '""') + '"'


# --- YAML with line numbers -----------------------------------------------------------------------

class _LineDict(dict):
    line = 1
    key_lines: dict


class _LineList(list):
    line = 1
    item_lines: list


class _Loader(yaml.SafeLoader):
    """SafeLoader that remembers lines and reads only true/false as booleans ("no" is a word here)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    data = _LineDict()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    data.duplicates = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) or key is None:
            key = str(key)
        if key in data:
            data.duplicates.append((key, key_node.start_mark.line + 1))
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1
    return data


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _LineList:
    data = _LineList(loader.construct_object(child, deep=True) for child in node.value)
    data.line = node.start_mark.line + 1
    data.item_lines = [child.start_mark.line + 1 for child in node.value]
    return data


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _line(obj: Any, key: Any = None, default: int = 1) -> int:
    if key is not None and isinstance(obj, _LineDict):
        return obj.key_lines.get(key, obj.line)
    return getattr(obj, "line", default)


# --- the rule model -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Example:
    expect: str  # pass | fail | na
    index: int
    values: dict  # column → text (or timestamp text)
    line: int


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    description: str
    field: str | None  # database column (aliases resolved); None for duration
    kind: str
    arg: Any  # the check's value, normalised
    when: dict  # normalised applicability conditions
    negation: bool
    weight: float
    severity: str
    case_sensitive: bool
    accent_sensitive: bool
    examples: tuple[Example, ...]
    file: str
    line: int

    def spec(self) -> dict:
        """What decides scoring (the pack hash covers this, not titles, descriptions or examples)."""
        return {"id": self.id, "field": self.field, "kind": self.kind, "arg": self.arg, "when": self.when,
                "negation": self.negation, "weight": self.weight, "severity": self.severity,
                "case_sensitive": self.case_sensitive, "accent_sensitive": self.accent_sensitive}

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class RulePack:
    rules: tuple[Rule, ...]
    hash: str
    path: Path

    def to_dict(self) -> dict:
        return {"path": str(self.path), "hash": self.hash, "rules": len(self.rules)}


def _did_you_mean(word: Any, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Problems:
    """Collects `file:line: rule <id>: <what>` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, file: str, line: int, rule: str | None, what: str) -> None:
        self.lines.append(f"{file}:{line}: " + (f"rule {rule}: " if rule else "") + what)


_re2 = None


def re2_problem(pattern: str) -> str | None:
    """None when DuckDB's RE2 accepts `pattern`, else what is wrong (naming the unsupported construct)."""
    global _re2
    if _re2 is None:
        _re2 = duckdb.connect(":memory:")
    try:
        _re2.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
        return None
    except duckdb.Error as err:
        message = str(err).splitlines()[0].removeprefix("Invalid Input Error: ")
    if message.startswith("invalid perl operator: (?"):
        for construct, name in _UNSUPPORTED:
            if construct in pattern:
                return f"unsupported construct for RE2: {name}"
    if re.match(r"invalid escape sequence: \\[1-9]", message):
        return "unsupported construct for RE2: backreference " + message.split(": ", 1)[1]
    if message.startswith("bad repetition operator: ") and re.search(r"[*+?}]\+", pattern):
        return "unsupported construct for RE2: possessive quantifier " + message.split(": ", 1)[1]
    if message == "invalid escape sequence: \\Z":
        return "unsupported construct for RE2: \\Z (use $)"
    return f"invalid RE2 regex: {message}"


def _text_list(value: Any, what: str, probs: _Problems, file: str, line: int, rid: str) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        probs.add(file, line, rid, f"{what} must be a list of texts, got {type(value).__name__}")
        return None
    if not value:
        probs.add(file, line, rid, f"{what} is an empty list")
        return None
    out = []
    for i, item in enumerate(value):
        item_line = value.item_lines[i] if isinstance(value, _LineList) else line
        if isinstance(item, bool) or not isinstance(item, str):
            hint = " (quote it: YAML reads it as a number)" if isinstance(item, (int, float)) else ""
            probs.add(file, item_line, rid, f"{what}[{i}] must be text, got {item!r}{hint}")
        elif not item.strip():
            probs.add(file, item_line, rid, f"{what}[{i}] is empty")
        elif "\x00" in item:
            probs.add(file, item_line, rid, f"{what}[{i}] contains a NUL character")
        else:
            out.append(item.strip())
    return out if len(out) == len(value) else None


def _field_name(name: Any, probs: _Problems, file: str, line: int, rid: str, what: str = "field") -> str | None:
    if isinstance(name, str):
        name = FIELD_ALIASES.get(name, name)
        if name in TEXT_FIELDS:
            return name
    probs.add(file, line, rid, f"unknown {what} {name!r}{_did_you_mean(name, TEXT_FIELDS + tuple(FIELD_ALIASES))}")
    return None


def _number(value: Any, what: str, probs: _Problems, file: str, line: int, rid: str) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        probs.add(file, line, rid, f"{what} must be a number, got {value!r}")
        return None
    if value < 0:
        probs.add(file, line, rid, f"{what} must be >= 0, got {value!r}")
        return None
    return value


def _bounds(spec: dict, keys: tuple[str, str], allowed: tuple[str, ...], kind: str, probs: _Problems,
            file: str, line: int, rid: str) -> dict | None:
    if not isinstance(spec, dict):
        probs.add(file, line, rid, f"{kind} must be a mapping with {' / '.join(keys)}")
        return None
    ok = True
    for key in spec:
        if key not in allowed:
            probs.add(file, _line(spec, key), rid, f"unknown key '{key}' in {kind}{_did_you_mean(key, allowed)}")
            ok = False
    lo, hi = (spec.get(k) for k in keys)
    if lo is None and hi is None:
        probs.add(file, line, rid, f"{kind} needs {keys[0]} or {keys[1]}")
        return None
    lo = _number(lo, f"{kind}.{keys[0]}", probs, file, _line(spec, keys[0]), rid) if lo is not None else None
    hi = _number(hi, f"{kind}.{keys[1]}", probs, file, _line(spec, keys[1]), rid) if hi is not None else None
    if (spec.get(keys[0]) is not None and lo is None) or (spec.get(keys[1]) is not None and hi is None):
        return None
    if lo is not None and hi is not None and lo > hi:
        probs.add(file, line, rid, f"{kind} bounds inverted: {keys[0]} {lo:g} > {keys[1]} {hi:g}")
        return None
    return {keys[0]: lo, keys[1]: hi} if ok else None


def _regex(value: Any, what: str, probs: _Problems, file: str, line: int, rid: str, cs: bool, acs: bool) -> str | None:
    if not isinstance(value, str) or not value:
        probs.add(file, line, rid, f"{what} must be a non-empty RE2 regex text")
        return None
    problem = re2_problem(value) or re2_problem(fold_regex(value, case_sensitive=cs, accent_sensitive=acs))
    if problem:
        probs.add(file, line, rid, f"{what}: {problem}")
        return None
    return value


def _parse_check(check: Any, rule: dict, probs: _Problems, file: str, rid: str, cs: bool, acs: bool):
    line = _line(rule, "check")
    if not isinstance(check, dict):
        probs.add(file, line, rid, f"check must be a mapping with one of: {', '.join(CHECK_KINDS)}")
        return None, None
    kinds = [k for k in check if k in CHECK_KINDS]
    for key in check:
        if key not in CHECK_KINDS:
            probs.add(file, _line(check, key), rid, f"unknown check kind '{key}'{_did_you_mean(key, CHECK_KINDS)}")
    if len(check) == 0:
        probs.add(file, line, rid, f"check needs one of: {', '.join(CHECK_KINDS)}")
    if len(kinds) != 1:
        if len(kinds) > 1:
            probs.add(file, line, rid, f"check has {len(kinds)} kinds ({', '.join(kinds)}); use one per rule")
        return None, None
    kind = kinds[0]
    value = check[kind]
    vline = _line(check, kind)
    if kind in ("contains_any", "contains_none", "in_set", "not_in_set"):
        return kind, _text_list(value, kind, probs, file, vline, rid)
    if kind in ("matches", "not_matches"):
        return kind, _regex(value, kind, probs, file, vline, rid, cs, acs)
    if kind == "not_empty":
        if value is not True:
            probs.add(file, vline, rid, "not_empty must be true")
            return kind, None
        return kind, True
    if kind == "length":
        bounds = _bounds(value, ("min", "max"), ("min", "max", "unit"), kind, probs, file, vline, rid)
        unit = value.get("unit", "chars") if isinstance(value, dict) else "chars"
        if unit not in ("chars", "words"):
            probs.add(file, _line(value, "unit"), rid, f"length.unit must be chars or words, got {unit!r}")
            return kind, None
        return kind, bounds and {**bounds, "unit": unit}
    # duration
    bounds = _bounds(value, ("min_seconds", "max_seconds"), ("from", "to", "min_seconds", "max_seconds"),
                     kind, probs, file, vline, rid)
    if not isinstance(value, dict):
        return kind, None
    ends = {}
    for key, default in (("from", "created_at"), ("to", "closed_at")):
        name = value.get(key, default)
        if name not in TIME_FIELDS:
            probs.add(file, _line(value, key), rid,
                      f"duration.{key} must be one of {', '.join(TIME_FIELDS)}, got {name!r}{_did_you_mean(name, TIME_FIELDS)}")
            return kind, None
        ends[key] = name
    return kind, bounds and {**bounds, **ends}


def _parse_when(when: Any, probs: _Problems, file: str, line: int, rid: str, cs: bool, acs: bool) -> dict | None:
    if when is None:
        return {}
    if not isinstance(when, dict) or not when:
        probs.add(file, line, rid, "when must be a non-empty mapping (field: [values], field_matches: ..., ...)")
        return None
    out: dict = {}
    ok = True
    for key, value in when.items():
        kline = _line(when, key)
        if key in WHEN_SPECIAL:
            if not isinstance(value, dict) or not value:
                probs.add(file, kline, rid, f"when.{key} must be a mapping of field: value")
                ok = False
                continue
            parsed = {}
            for fname, fvalue in value.items():
                fline = _line(value, fname)
                col = _field_name(fname, probs, file, fline, rid, f"field in when.{key}")
                if key == "field_matches":
                    fvalue = _regex(fvalue, f"when.field_matches.{fname}", probs, file, fline, rid, cs, acs)
                elif key == "field_contains":
                    fvalue = _text_list(fvalue, f"when.field_contains.{fname}", probs, file, fline, rid)
                else:
                    if isinstance(fvalue, bool) or not isinstance(fvalue, int) or fvalue < 0:
                        probs.add(file, fline, rid, f"when.min_length.{fname} must be a whole number >= 0")
                        fvalue = None
                if col is None or fvalue is None:
                    ok = False
                else:
                    parsed[col] = fvalue
            out[key] = parsed
        elif isinstance(key, str) and FIELD_ALIASES.get(key, key) in TEXT_FIELDS:
            values = _text_list(value, f"when.{key}", probs, file, kline, rid)
            if values is None:
                ok = False
            else:
                out[FIELD_ALIASES.get(key, key)] = values
        else:
            probs.add(file, kline, rid, f"unknown key '{key}' in when"
                      f"{_did_you_mean(key, WHEN_SPECIAL + TEXT_FIELDS)}")
            ok = False
    return out if ok else None


def _parse_examples(examples: Any, kind: str | None, field_name: str | None, when: dict | None,
                    probs: _Problems, file: str, line: int, rid: str) -> tuple[Example, ...]:
    if examples is None:
        return ()
    if not isinstance(examples, dict):
        probs.add(file, line, rid, "examples must be a mapping with pass / fail / na lists")
        return ()
    out = []
    for expect, items in examples.items():
        eline = _line(examples, expect)
        if expect not in ("pass", "fail", "na"):
            probs.add(file, eline, rid, f"unknown key '{expect}' in examples{_did_you_mean(expect, ('pass', 'fail', 'na'))}")
            continue
        if not isinstance(items, list):
            items = _LineList([items])
            items.item_lines = [eline]
        for i, item in enumerate(items):
            iline = items.item_lines[i] if isinstance(items, _LineList) else eline
            values = _example_values(item, kind, field_name, when or {}, probs, file, iline, rid, f"{expect}[{i}]")
            if values is not None:
                out.append(Example(expect, i, values, iline))
    return tuple(out)


def _example_values(item: Any, kind, field_name, when: dict, probs: _Problems, file: str, line: int, rid: str,
                    label: str) -> dict | None:
    base = "2026-01-05 10:00:00"
    if isinstance(item, dict):
        values = {}
        for key, value in item.items():
            col = FIELD_ALIASES.get(key, key) if isinstance(key, str) else key
            if col not in TEXT_FIELDS and col not in TIME_FIELDS:
                probs.add(file, _line(item, key), rid, f"example {label}: unknown field {key!r}"
                          f"{_did_you_mean(key, TEXT_FIELDS + TIME_FIELDS)}")
                return None
            values[col] = None if value is None else str(value)
        if kind == "duration" and "created_at" not in values:
            values["created_at"] = base
        return values
    if kind == "duration":
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            probs.add(file, line, rid, f"example {label}: a duration example is a number of seconds or a mapping")
            return None
        values = {"created_at": base, "closed_at_seconds": float(item)}
    elif item is not None and not isinstance(item, str):
        probs.add(file, line, rid, f"example {label}: must be a text or a mapping of field: text")
        return None
    else:
        values = {field_name: item} if field_name else {}
    for key, allowed in when.items():  # a bare text example satisfies the rule's field conditions
        if key not in WHEN_SPECIAL and key not in values:
            values[key] = allowed[0]
    return values


def _parse_rule(raw: Any, file: str, index: int, line: int, probs: _Problems, seen: dict) -> Rule | None:
    if not isinstance(raw, dict):
        probs.add(file, line, None, f"rules[{index}] must be a mapping, got {type(raw).__name__}")
        return None
    rid = raw.get("id")
    label = rid if isinstance(rid, str) and rid else f"#{index + 1}"
    before = len(probs.lines)
    for key, dup_line in getattr(raw, "duplicates", []):
        probs.add(file, dup_line, label, f"key '{key}' given twice")
    for key in raw:
        if key not in RULE_KEYS:
            probs.add(file, _line(raw, key), label, f"unknown key '{key}'{_did_you_mean(key, RULE_KEYS)}")
    for key in REQUIRED_KEYS:
        if key not in raw:
            probs.add(file, raw.line, label, f"missing required key '{key}'")
    if "id" in raw:
        if not isinstance(rid, str) or not ID_RE.match(rid):
            probs.add(file, _line(raw, "id"), label,
                      "id must start with a letter and use only letters, digits, _ . - (max 64)")
        elif rid in seen:
            probs.add(file, _line(raw, "id"), label, f"duplicate id, also defined at {seen[rid]}")
        else:
            seen[rid] = f"{file}:{_line(raw, 'id')}"
    for key in ("title", "description"):
        if key in raw and (not isinstance(raw[key], str) or (key == "title" and not raw[key].strip())):
            probs.add(file, _line(raw, key), label, f"{key} must be a non-empty text")
    flags = {}
    for key in ("negation", "case_sensitive", "accent_sensitive"):
        value = raw.get(key, False)
        if not isinstance(value, bool):
            probs.add(file, _line(raw, key), label, f"{key} must be true or false, got {value!r}")
        flags[key] = value is True
    cs, acs = flags["case_sensitive"], flags["accent_sensitive"]
    kind, arg = _parse_check(raw["check"], raw, probs, file, label, cs, acs) if "check" in raw else (None, None)
    column = None
    if kind == "duration":
        if "field" in raw:
            probs.add(file, _line(raw, "field"), label, "duration names its timestamps in from / to: remove 'field'")
    elif "field" in raw:
        column = _field_name(raw["field"], probs, file, _line(raw, "field"), label)
    elif kind is not None:
        probs.add(file, raw.line, label, f"missing required key 'field' (a {kind} check reads one field)")
    if flags["negation"] and kind not in (None, "contains_any", "contains_none") and \
            not (isinstance(raw.get("when"), dict) and "field_contains" in raw["when"]):
        probs.add(file, _line(raw, "negation"), label,
                  "negation applies to phrase lists only (contains_any, contains_none, when.field_contains)")
    weight = raw.get("weight")
    if "weight" in raw and (isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0):
        probs.add(file, _line(raw, "weight"), label, f"weight must be a number > 0, got {weight!r}")
    severity = raw.get("severity")
    if "severity" in raw and severity not in SEVERITIES:
        probs.add(file, _line(raw, "severity"), label,
                  f"severity must be minor, major or critical, got {severity!r}{_did_you_mean(severity, SEVERITIES)}")
    when = _parse_when(raw.get("when"), probs, file, _line(raw, "when"), label, cs, acs)
    examples = _parse_examples(raw.get("examples"), kind, column, when, probs, file, _line(raw, "examples"), label)
    if len(probs.lines) > before or arg is None:
        return None
    return Rule(id=rid, title=raw["title"].strip(), description=(raw.get("description") or "").strip(),
                field=column, kind=kind, arg=arg, when=when, negation=flags["negation"], weight=float(weight),
                severity=severity, case_sensitive=cs, accent_sensitive=acs, examples=examples, file=file,
                line=raw.line)


def load_rule_pack(path: Path) -> RulePack:
    """Read and validate every `*.yaml` in `path`; raise RulePackError listing every problem."""
    path = Path(path)
    if not path.is_dir():
        raise RulePackError(f"{path}: rule pack folder not found" if not path.exists()
                            else f"{path}: a rule pack is a folder of *.yaml files")
    files = sorted(list(path.glob("*.yaml")) + list(path.glob("*.yml")))
    if not files:
        raise RulePackError(f"{path}: no *.yaml rule files in the folder")
    probs = _Problems()
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for file in files:
        name = str(file)
        try:
            data = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 — a SafeLoader
        except UnicodeDecodeError:
            probs.add(name, 1, None, "not UTF-8 text")
            continue
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            probs.add(name, mark.line + 1 if mark else 1, None,
                      f"invalid YAML: {getattr(err, 'problem', None) or err}")
            continue
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            probs.add(name, _line(data), None, "expected a mapping with a 'rules:' list")
            continue
        for key in data:
            if key != "rules":
                probs.add(name, _line(data, key), None, f"unknown top-level key '{key}'{_did_you_mean(key, ['rules'])}")
        items = data["rules"]
        for i, raw in enumerate(items):
            rule = _parse_rule(raw, name, i, items.item_lines[i], probs, seen)
            if rule is not None:
                rules.append(rule)
    if probs.lines:
        _raise_problems(path, probs.lines)
    if not rules:
        raise RulePackError(f"{path}: the rule pack has no rules")
    digest = hashlib.sha256(json.dumps({"engine": ENGINE_VERSION, "rules": [r.spec() for r in sorted(rules, key=lambda r: r.id)]},
                                       sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return RulePack(rules=tuple(rules), hash=digest, path=path)


def _raise_problems(path: Path, lines: list[str]) -> None:
    if len(lines) == 1:
        raise RulePackError(lines[0])
    for line in lines:
        log.error("%s", line)
    raise RulePackError(f"{len(lines)} problems in rule pack {path}\n" + "\n".join(lines))


# --- compilation ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompiledPack:
    """The pack as SQL: `select_sql` reads `{source}` and yields one wide row per interaction."""

    select_sql: str
    params: dict
    rule_ids: tuple[str, ...]
    unpivot_sql: str  # the long form of the wide table: (interaction_id, rule_id, applicable, ...)


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def bind(self, value: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return "$" + name


def _col(name: str) -> str:
    assert name in TEXT_FIELDS or name in TIME_FIELDS
    return sql_identifier(name)


def _blank(col: str) -> str:
    """store's qa_blank, evaluated only where it can be true (trim strips spaces only): 10x faster on long texts."""
    return (f"CASE WHEN {col} IS NULL THEN true WHEN {col} = '' OR starts_with({col}, ' ') OR "
            f"starts_with({col}, '-') THEN qa_blank({col}) ELSE false END")


def _phrase_match(col: str, phrases: list[str], rule: Rule, params: _Params) -> tuple[str, str]:
    """(SQL that is true when a phrase occurs, not negated; SQL of the text the match is searched in)."""
    opts = {"case_sensitive": rule.case_sensitive, "accent_sensitive": rule.accent_sensitive}
    pattern = params.bind(phrase_pattern(phrases, **opts))
    if not rule.negation:
        return f"regexp_matches({col}, {pattern})", col
    spoiled = f"regexp_replace({col}, {params.bind(negation_pattern(phrases, **opts))}, " \
              f"{params.bind(chr(92) + '1' + NEGATED_MARK + chr(92) + '2')}, 'g')"
    # Only texts that contain a phrase at all pay for the negation pass.
    return f"CASE WHEN regexp_matches({col}, {pattern}) THEN regexp_matches({spoiled}, {pattern}) ELSE false END", spoiled


def _in_set(col: str, values: list[str], rule: Rule, params: _Params) -> str:
    alternatives = "|".join(escape_phrase(v, case_sensitive=rule.case_sensitive,
                                          accent_sensitive=rule.accent_sensitive) for v in values)
    flags = "" if rule.case_sensitive else "(?i)"
    pattern = params.bind(flags + r"\s*(?:" + alternatives + r")\s*")
    return f"regexp_full_match({col}, {pattern})"


def _when_sql(rule: Rule, params: _Params) -> str:
    parts = []
    for key, value in rule.when.items():
        if key == "field_matches":
            for col, rx in value.items():
                folded = fold_regex(rx, case_sensitive=rule.case_sensitive, accent_sensitive=rule.accent_sensitive)
                parts.append(f"regexp_matches({_col(col)}, {params.bind(folded)})")
        elif key == "field_contains":
            for col, phrases in value.items():
                parts.append(_phrase_match(_col(col), phrases, rule, params)[0])
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
    if n <= 1:
        return f"regexp_matches({col}, '\\S')"
    if n > 1000:  # RE2 caps counted repetition at 1000
        return f"len(regexp_extract_all({col}, '\\S+')) >= {n}"
    pattern = params.bind(r"\S+(?:\s+\S+){" + str(n - 1) + "}")
    return f"regexp_matches({col}, {pattern})"


def _rule_sql(rule: Rule, params: _Params, screens: dict | None = None) -> tuple[str, str, str | None, str | None]:
    """(applicable, passed, evidence_extract, value_evidence) SQL for one rule.

    evidence_extract: a regexp_extract struct {pre, edge, m} on failing rows (text evidence);
    value_evidence: a text on failing rows (out-of-bounds value, value not allowed).
    """
    when = _when_sql(rule, params)
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
        found, searched = _phrase_match(col, arg, rule, params)
        if kind == "contains_any":
            return applicable, found, None, None
        if screens and rule.field in screens:
            found = f"CASE WHEN {screens[rule.field]} THEN {found} ELSE false END"
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


def _screen_patterns(pack: RulePack) -> dict[str, str]:
    """Per column, one RE2 union of the contains_none rules' phrases (forbidden phrases).

    Forbidden phrases rarely occur, so each rule would scan every text to its end; one union pass
    per column finds the few texts where any of them occurs, and only those run each rule's own
    pattern (6 rules on `answer` then cost about one regex pass). User regexes (not_matches) are
    not merged: a union of counted repetitions blows up RE2's DFA (measured 200x slower).
    """
    found: dict[str, list[str]] = {}
    for rule in pack.rules:
        opts = {"case_sensitive": rule.case_sensitive, "accent_sensitive": rule.accent_sensitive}
        if rule.kind == "contains_none":
            found.setdefault(rule.field, []).append(phrase_pattern(rule.arg, **opts))
    out = {}
    for column, patterns in found.items():
        union = "|".join(f"(?:{p})" for p in patterns)
        if len(patterns) > 1 and re2_problem(union) is None:
            out[column] = union
    return out


def compile_rule_pack(pack: RulePack) -> CompiledPack:
    """One SELECT over `{source}` computing every rule (set-based), plus the unpivot to long form."""
    params = _Params()
    level1, level_pass, level2, level3, groups = [], [], [], [], []
    screens = {}
    for column, patterns in _screen_patterns(pack).items():
        alias = f"s_{TEXT_FIELDS.index(column)}"
        level1.append(f"coalesce(regexp_matches({_col(column)}, {params.bind(patterns)}), false) AS {alias}")
        screens[column] = alias
    app_terms, pass_terms, fail_terms, crit_terms, n_app_terms = [], [], [], [], []
    for i, rule in enumerate(pack.rules):
        applicable, passed, extract, value_evidence = _rule_sql(rule, params, screens)
        level1.append(f"coalesce({applicable}, false) AS a{i}")
        level_pass.append(f"CASE WHEN a{i} THEN coalesce({passed}, false) END AS p{i}")
        failed = f"(a{i} AND NOT p{i})"
        if extract:
            level2.append(f"CASE WHEN {failed} THEN {extract} END AS x{i}")
            start = f"(length(x{i}.pre) + length(x{i}.edge))"
            level3 += [f"substring({_col(rule.field)}, {start} + 1, length(x{i}.m)) AS ev{i}",
                       f"CASE WHEN x{i} IS NOT NULL THEN {sql_literal(rule.field)} END AS ef{i}",
                       f"{start}::INTEGER AS es{i}", f"({start} + length(x{i}.m))::INTEGER AS ee{i}"]
        else:
            evidence = f"CASE WHEN {failed} THEN {value_evidence} END" if value_evidence else "NULL::VARCHAR"
            field_name = rule.field or rule.arg.get("to")
            level3 += [f"{evidence} AS ev{i}",
                       f"CASE WHEN {failed} THEN {sql_literal(field_name)} END AS ef{i}" if value_evidence
                       else "NULL::VARCHAR AS ef{i}".format(i=i),
                       f"NULL::INTEGER AS es{i}", f"NULL::INTEGER AS ee{i}"]
        level3 += [f"a{i}", f"p{i}"]
        weight = repr(rule.weight)
        n_app_terms.append(f"a{i}::INTEGER")
        app_terms.append(f"{weight} * a{i}::INTEGER")
        pass_terms.append(f"{weight} * coalesce(p{i}, false)::INTEGER")
        fail_terms.append(f"coalesce({failed}, false)::INTEGER")
        if rule.severity == "critical":
            crit_terms.append(f"coalesce({failed}, false)")
        groups.append(f"(a{i}, p{i}, ev{i}, ef{i}, es{i}, ee{i}) AS {sql_identifier(rule.id)}")
    critical = " OR ".join(crit_terms) or "false"
    columns = sorted({r.field for r in pack.rules if r.field} | {c for r in pack.rules for c in r.when
                                                                  if c not in WHEN_SPECIAL}
                     | {c for r in pack.rules for k in WHEN_SPECIAL for c in r.when.get(k, {})}
                     | {r.arg[end] for r in pack.rules if r.kind == "duration" for end in ("from", "to")})
    carry = ", ".join(_col(c) for c in columns)
    select_sql = f"""
    SELECT interaction_id, content_hash,
           {' + '.join(n_app_terms)} AS rules_applicable,
           {' + '.join(fail_terms)} AS rules_failed,
           {critical} AS critical_failed,
           {' + '.join(app_terms)} AS weight_applicable,
           {' + '.join(pass_terms)} AS weight_passed,
           {', '.join(level3)}
    FROM (
        SELECT *{', ' if level2 else ''}{', '.join(level2)}
        FROM (SELECT *, {', '.join(level_pass)}
              FROM (SELECT interaction_id, content_hash{', ' if carry else ''}{carry}, {', '.join(level1)}
                    FROM {{source}}))
    )"""
    unpivot_sql = f"""SELECT interaction_id, rule_id, applicable, passed, evidence, evidence_field,
        evidence_start, evidence_end
    FROM {{wide}} UNPIVOT INCLUDE NULLS (
        (applicable, passed, evidence, evidence_field, evidence_start, evidence_end)
        FOR rule_id IN ({', '.join(groups)}))"""
    return CompiledPack(select_sql=select_sql, params=params.values,
                        rule_ids=tuple(r.id for r in pack.rules), unpivot_sql=unpivot_sql)


def _evaluate(con: duckdb.DuckDBPyConnection, compiled: CompiledPack, source: str, wide: str) -> None:
    """Materialise the wide per-rule table `wide` for the interactions of `source` (one query)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {wide} AS " + compiled.select_sql.format(source=source),
                compiled.params)


# --- scoring --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScoreSummary:
    rule_pack_hash: str
    rules: int
    scored: int  # interactions (re)scored now
    unchanged: int  # interactions whose stored score was still valid
    rule_results: int
    critical_failed: int  # among the scored ones
    mean_score: float | None  # among the scored ones
    full: bool
    seconds: dict = field(default_factory=dict)  # per step, for the log and benchmarks

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        mean = "-" if self.mean_score is None else f"{self.mean_score:.1f}"
        return (f"scored {self.scored:,} interactions with {self.rules} rules (pack {self.rule_pack_hash[:12]}), "
                f"unchanged {self.unchanged:,}, mean score {mean}, critical failures {self.critical_failed:,}, "
                f"rule results {self.rule_results:,}")


SCORE_SQL = """
    SELECT interaction_id,
           CASE WHEN weight_applicable = 0 THEN NULL WHEN critical_failed THEN 0.0
                ELSE 100.0 * weight_passed / weight_applicable END AS score,
           critical_failed, rules_applicable, rules_failed, content_hash, $hash AS rule_pack_hash, $run_id AS run_id
    FROM qa_wide"""


def score_interactions(con: duckdb.DuckDBPyConnection, pack: RulePack, *, full: bool = False,
                       run_id: int | None = None) -> ScoreSummary:
    """Score new or changed interactions (all with `full` or a changed pack), replacing results in one transaction.

    An interaction is rescored when it has no stored score, its content_hash differs from the one
    scored, or its score came from another rule pack (so a pack change rescored everything).
    """
    compiled = compile_rule_pack(pack)
    clock = _Clock()
    with store.atomic(con):
        con.execute("""
            CREATE OR REPLACE TEMP TABLE qa_todo AS
            SELECT i.interaction_id, i.changed_at, s.interaction_id IS NOT NULL AS had_score
            FROM interactions i LEFT JOIN interaction_scores s USING (interaction_id)
            WHERE $full OR s.interaction_id IS NULL OR s.content_hash <> i.content_hash
                  OR s.rule_pack_hash <> $hash""", {"full": full, "hash": pack.hash})
        todo, replacing, since = store.fetch_one(
            con, "SELECT count(*), count(*) FILTER (had_score), min(changed_at) FROM qa_todo")
        stored, total = store.fetch_one(con, "SELECT (SELECT count(*) FROM interaction_scores), "
                                             "(SELECT count(*) FROM interactions)")
        clock.lap("select what to score")
        if replacing == stored and todo == total:
            con.execute("DELETE FROM rule_results")  # everything is rescored
            con.execute("DELETE FROM interaction_scores")
        else:
            # Results of interactions that are about to be rescored or are gone (rebuild).
            con.execute("""CREATE OR REPLACE TEMP TABLE qa_drop AS
                SELECT interaction_id FROM qa_todo WHERE had_score
                UNION ALL SELECT interaction_id FROM interaction_scores ANTI JOIN interactions USING (interaction_id)""")
            if store.fetch_one(con, "SELECT count(*) FROM qa_drop")[0]:
                con.execute("DELETE FROM rule_results WHERE interaction_id IN (SELECT interaction_id FROM qa_drop)")
                con.execute("DELETE FROM interaction_scores WHERE interaction_id IN (SELECT interaction_id FROM qa_drop)")
            con.execute("DROP TABLE qa_drop")
        clock.lap("drop old results")
        if todo == total:
            source = "interactions"
        else:
            # changed_at >= the oldest change to score lets DuckDB skip old row groups (zone maps):
            # a nightly run reads the night's rows, not the whole history.
            source = (f"(SELECT * FROM interactions WHERE changed_at >= {sql_literal(str(since))}::TIMESTAMP "
                      f"AND interaction_id IN (SELECT interaction_id FROM qa_todo))" if todo else
                      "(SELECT * FROM interactions WHERE false)")
        _evaluate(con, compiled, source, "qa_wide")
        clock.lap("evaluate rules")
        con.execute("INSERT INTO interaction_scores " + SCORE_SQL, {"hash": pack.hash, "run_id": run_id})
        crit, mean = store.fetch_one(con, f"SELECT count(*) FILTER (critical_failed), avg(score) FROM ({SCORE_SQL})",
                                     {"hash": pack.hash, "run_id": run_id})
        clock.lap("write interaction_scores")
        con.execute(f"""INSERT INTO rule_results
            SELECT *, $hash AS rule_pack_hash, $run_id AS run_id FROM ({compiled.unpivot_sql.format(wide='qa_wide')})""",
                    {"hash": pack.hash, "run_id": run_id})
        clock.lap("write rule_results")
        con.execute("DROP TABLE qa_wide")
        con.execute("DROP TABLE qa_todo")
    clock.lap("commit")
    log.info("scored %d interactions (%d unchanged) with %d rules", todo, total - todo, len(pack.rules))
    log.debug("score timings: %s", clock)
    return ScoreSummary(rule_pack_hash=pack.hash, rules=len(pack.rules), scored=todo, unchanged=total - todo,
                        rule_results=todo * len(pack.rules), critical_failed=crit,
                        mean_score=None if mean is None else round(mean, 2), full=full,
                        seconds=dict(clock.laps))


class _Clock:
    """Seconds per step, for the log and the benchmark."""

    def __init__(self) -> None:
        self.laps: list[tuple[str, float]] = []
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps.append((name, round(now - self._last, 3)))
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.laps)


# --- self-tests -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckSummary:
    path: str
    rule_pack_hash: str
    files: int
    rules: int
    examples: int

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        return f"ok: {self.rules} rules, {self.examples} examples passed"


def _short(values: dict, rule: Rule) -> str:
    text = values.get(rule.field) if rule.field else None
    if "closed_at_seconds" in values:
        text = f"{values['closed_at_seconds']:g} s"
    elif text is None:
        text = json.dumps({k: v for k, v in values.items()}, ensure_ascii=False)
    text = " ".join(str(text).split())
    return repr(text if len(text) <= 60 else text[:57] + "...")


def check_rule_pack(path: Path) -> CheckSummary:
    """Validate the pack and run every rule's examples through the scoring SQL in an in-memory DuckDB."""
    pack = load_rule_pack(path)
    compiled = compile_rule_pack(pack)
    examples = [(rule, ex) for rule in pack.rules for ex in rule.examples]
    con = duckdb.connect(":memory:")
    try:
        store.migrate(con)
        rows = []
        for n, (rule, ex) in enumerate(examples):
            values = dict(ex.values)
            seconds = values.pop("closed_at_seconds", None)
            created = values.pop("created_at", None) or "2026-01-05 10:00:00"
            closed = values.pop("closed_at", None)
            rows.append({"interaction_id": f"ex{n}", "created_at": created, "closed_at": closed,
                         "seconds": seconds, **{c: values.get(c) for c in TEXT_FIELDS}})
        con.execute("CREATE TEMP TABLE qa_examples (interaction_id VARCHAR, created_at VARCHAR, closed_at VARCHAR, "
                    "seconds DOUBLE, " + ", ".join(f"{_col(c)} VARCHAR" for c in TEXT_FIELDS) + ")")
        if rows:
            import pyarrow as pa

            con.register("qa_example_rows", pa.Table.from_pylist(rows, schema=pa.schema(
                [("interaction_id", pa.string()), ("created_at", pa.string()), ("closed_at", pa.string()),
                 ("seconds", pa.float64())] + [(c, pa.string()) for c in TEXT_FIELDS])))
            con.execute("INSERT INTO qa_examples SELECT * FROM qa_example_rows")
            con.unregister("qa_example_rows")
        source = f"""(SELECT interaction_id, 'example' AS content_hash, {', '.join(_col(c) for c in TEXT_FIELDS)},
                       try_cast(created_at AS TIMESTAMP) AS created_at,
                       coalesce(try_cast(closed_at AS TIMESTAMP),
                                try_cast(created_at AS TIMESTAMP) + to_seconds(seconds)) AS closed_at
                      FROM qa_examples)"""
        _evaluate(con, compiled, source, "qa_wide")
        got = {(iid, rid): (app, passed, ev) for iid, rid, app, passed, ev, *_ in
               con.execute(compiled.unpivot_sql.format(wide="qa_wide")).fetchall()}
    finally:
        con.close()
    problems = []
    for n, (rule, ex) in enumerate(examples):
        applicable, passed, evidence = got[(f"ex{n}", rule.id)]
        outcome = "na" if not applicable else "pass" if passed else "fail"
        if outcome != ex.expect:
            said = {"na": "is not applicable (when / empty field)", "pass": "passed", "fail": "failed"}[outcome]
            detail = f" (evidence {evidence!r})" if evidence else ""
            problems.append(f"{rule.file}:{ex.line}: rule {rule.id}: example {ex.expect}[{ex.index}] "
                            f"{_short(ex.values, rule)} {said}, expected {ex.expect}{detail}")
    if problems:
        _raise_problems(path, problems)
    return CheckSummary(path=str(path), rule_pack_hash=pack.hash, files=len({r.file for r in pack.rules}),
                        rules=len(pack.rules), examples=len(examples))


def default_rules_dir(settings) -> Path:
    """The configured rule pack, else the bundled one."""
    from qa_scoring.resources import rules_dir

    return Path(settings.rules.dir) if settings.rules.dir else rules_dir()
