"""Rule packs: YAML files → validated `Rule`s, every problem reported as `file:line: rule <id>: <what>`.

The YAML loader is a SafeLoader that remembers the line of every key and item and reads only
true/false as booleans ("no" is a Spanish word here). Validation collects every problem of the pack
before raising one RulePackError; regexes are checked with DuckDB's own RE2 (`text.re2_problem`).
The language is documented in rules/README.md (a contract).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from qa_scoring import store
from qa_scoring.errors import RulePackError
from qa_scoring.rules.text import fold_regex, re2_problem

log = logging.getLogger(__name__)

ENGINE_VERSION = "1"  # part of the pack hash: a change in how rules compile rescoring everything
FIELD_ALIASES = {"from": "from_addr", "to": "to_addr"}
TEXT_FIELDS = tuple(store.TEXT_COLUMNS)
TIME_FIELDS = ("created_at", "closed_at")
TEXT_KINDS = ("contains_any", "contains_none", "matches", "not_matches", "length", "in_set", "not_in_set")
CHECK_KINDS = TEXT_KINDS + ("not_empty", "duration")
SEVERITIES = ("minor", "major", "critical")
RULE_KEYS = ("id", "title", "description", "field", "when", "check", "negation", "weight", "severity",
             "examples", "case_sensitive", "accent_sensitive", "attribute")
REQUIRED_KEYS = ("id", "title", "check", "weight", "severity")
WHEN_SPECIAL = ("field_matches", "field_contains", "min_length")
# The languages a title or description may be written in (the report languages, report/i18n.py).
TEXT_LANGUAGES = ("es", "en")
ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
# Weights are relative shares of the score. These bounds keep every sum finite and every score a
# number (two weights of 1e308 summed to inf, and inf / inf stored NaN scores); real scorecards
# use 1-10, so a ratio of a million between two rules is more than any pack needs.
MAX_WEIGHT = 1_000_000
MAX_WEIGHT_SUM = 1_000_000_000


# --- YAML with line numbers -----------------------------------------------------------------------

class _LineDict(dict):
    line = 1
    key_lines: dict


class _LineList(list):
    line = 1
    item_lines: list


# A rule pack nests about 7 levels; PyYAML composes recursively (100k levels: RecursionError).
MAX_YAML_DEPTH = 50
# Nodes of a file once its aliases are expanded: a "billion laughs" file of 1 kB expands to 1e9
# (8-11 GB once quoted in an error). A 2,000-rule pack with examples has ~100k.
MAX_YAML_NODES = 1_000_000


class _Loader(yaml.SafeLoader):
    """SafeLoader that remembers lines and reads only true/false as booleans ("no" is a word here).

    It refuses, while composing and before anything is built, a file nested deeper than
    MAX_YAML_DEPTH or whose aliases expand to more than MAX_YAML_NODES nodes (or refer to
    themselves).
    """

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0  # nodes composed so far, every alias counted as the whole node it names
        self._sizes: dict[int, int] = {}  # id(node) -> its expanded size, once composed

    def _count(self, n: int, mark) -> None:
        self._expanded += n
        if self._expanded > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"aliases expand to more than {MAX_YAML_NODES:,} nodes (the limit)", mark)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:  # the anchor's node is still being composed
                raise yaml.composer.ComposerError(None, None, f"alias *{_clip(event.anchor)} refers to itself",
                                                  event.start_mark)
            self._count(size, event.start_mark)
            return node
        mark = self.peek_event().start_mark
        if self._depth >= MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels (the limit)",
                                              mark)
        self._depth += 1
        before = self._expanded
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._count(1, mark)
        self._sizes[id(node)] = self._expanded - before
        return node


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


MAX_SHOWN = 40  # characters of a user's value quoted in an error message


def _clip(text: str) -> str:
    """At most MAX_SHOWN characters of a user's text, on one line (control characters escaped)."""
    short = str(text)[:MAX_SHOWN]
    if not short.isprintable():
        short = short.encode("unicode_escape").decode("ascii")
    return short + ("..." if len(str(text)) > MAX_SHOWN else "")


def _show(value: Any) -> str:
    """A value as an error message quotes it: a few dozen characters whatever its size."""
    if isinstance(value, str):
        return repr(value[:MAX_SHOWN]) + ("..." if len(value) > MAX_SHOWN else "")
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10 ** MAX_SHOWN else f"a number of {len(str(value)):,} digits"
    if isinstance(value, list):
        return f"a list of {len(value):,} items"
    if isinstance(value, dict):
        return f"a mapping of {len(value):,} keys"
    return f"a {type(value).__name__}"


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    data = _LineDict()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    data.duplicates = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) or key is None:
            key = _show(key)
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
    title: str | dict  # a text, or {language: text} (TEXT_LANGUAGES); reports pick their language
    description: str | dict
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
    attributes: tuple[str, ...] = ()  # Wolkvox evaluation attributes this rule stands for (reviews import)

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
    if not isinstance(word, str) or len(word) > 64:  # no name is that long (and difflib is quadratic)
        return ""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Problems:
    """Collects `file:line: rule <id>: <what>` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, file: str, line: int, rule: str | None, what: str) -> None:
        self.lines.append(f"{file}:{line}: " + (f"rule {rule}: " if rule else "") + what)


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
            probs.add(file, item_line, rid, f"{what}[{i}] must be text, got {_show(item)}{hint}")
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
    probs.add(file, line, rid, f"unknown {what} {_show(name)}{_did_you_mean(name, TEXT_FIELDS + tuple(FIELD_ALIASES))}")
    return None


def _number(value: Any, what: str, probs: _Problems, file: str, line: int, rid: str) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        probs.add(file, line, rid, f"{what} must be a finite number, got {_show(value)}")
        return None
    if value < 0:
        probs.add(file, line, rid, f"{what} must be >= 0, got {_show(value)}")
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
            probs.add(file, _line(spec, key), rid, f"unknown key {_show(key)} in {kind}{_did_you_mean(key, allowed)}")
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
            probs.add(file, _line(check, key), rid, f"unknown check kind {_show(key)}{_did_you_mean(key, CHECK_KINDS)}")
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
            probs.add(file, _line(value, "unit"), rid, f"length.unit must be chars or words, got {_show(unit)}")
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
                      f"duration.{key} must be one of {', '.join(TIME_FIELDS)}, got {_show(name)}{_did_you_mean(name, TIME_FIELDS)}")
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
                    fvalue = _regex(fvalue, f"when.field_matches.{_clip(fname)}", probs, file, fline, rid, cs, acs)
                elif key == "field_contains":
                    fvalue = _text_list(fvalue, f"when.field_contains.{_clip(fname)}", probs, file, fline, rid)
                else:
                    if isinstance(fvalue, bool) or not isinstance(fvalue, int) or fvalue < 0:
                        probs.add(file, fline, rid, f"when.min_length.{_clip(fname)} must be a whole number >= 0")
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
            probs.add(file, kline, rid, f"unknown key {_show(key)} in when"
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
            probs.add(file, eline, rid, f"unknown key {_show(expect)} in examples{_did_you_mean(expect, ('pass', 'fail', 'na'))}")
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
                probs.add(file, _line(item, key), rid, f"example {label}: unknown field {_show(key)}"
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


def _localized(raw: dict, key: str, probs: _Problems, file: str, rid: str) -> str | dict | None:
    """A title or description: a text, or a mapping of language → text (`title: {es: …, en: …}`).

    A mapping is returned in TEXT_LANGUAGES order, so the stored JSON never depends on the YAML's order.
    """
    value, line = raw[key], _line(raw, key)
    if isinstance(value, str):
        if key == "title" and not value.strip():
            probs.add(file, line, rid, "title must be a non-empty text")
        return value.strip()
    if not isinstance(value, dict) or not value:
        probs.add(file, line, rid, f"{key} must be a text or a mapping of language: text "
                  f"({', '.join(TEXT_LANGUAGES)}), got {_show(value)}")
        return None
    for lang, dup_line in getattr(value, "duplicates", []):
        probs.add(file, dup_line, rid, f"{key}: language {_show(lang)} given twice")
    out = {}
    for lang, text in value.items():
        kline = _line(value, lang)
        if lang not in TEXT_LANGUAGES:
            probs.add(file, kline, rid, f"unknown language {_show(lang)} in {key} (one of "
                      f"{', '.join(TEXT_LANGUAGES)}){_did_you_mean(lang, TEXT_LANGUAGES)}")
        elif not isinstance(text, str) or not text.strip():
            probs.add(file, kline, rid, f"{key}.{lang} must be a non-empty text, got {_show(text)}")
        else:
            out[lang] = text.strip()
    return {lang: out[lang] for lang in TEXT_LANGUAGES if lang in out}


def _parse_rule(raw: Any, file: str, index: int, line: int, probs: _Problems, seen: dict) -> Rule | None:
    if not isinstance(raw, dict):
        probs.add(file, line, None, f"rules[{index}] must be a mapping, got {type(raw).__name__}")
        return None
    rid = raw.get("id")
    label = _clip(rid) if isinstance(rid, str) and rid else f"#{index + 1}"
    before = len(probs.lines)
    for key, dup_line in getattr(raw, "duplicates", []):
        probs.add(file, dup_line, label, f"key {_show(key)} given twice")
    for key in raw:
        if key not in RULE_KEYS:
            probs.add(file, _line(raw, key), label, f"unknown key {_show(key)}{_did_you_mean(key, RULE_KEYS)}")
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
    texts = {key: _localized(raw, key, probs, file, label) for key in ("title", "description") if key in raw}
    flags = {}
    for key in ("negation", "case_sensitive", "accent_sensitive"):
        value = raw.get(key, False)
        if not isinstance(value, bool):
            probs.add(file, _line(raw, key), label, f"{key} must be true or false, got {_show(value)}")
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
    attributes = raw.get("attribute", [])
    if isinstance(attributes, str):
        attributes = [attributes]
    if not isinstance(attributes, list) or not all(isinstance(a, str) and a.strip() for a in attributes):
        probs.add(file, _line(raw, "attribute"), label, "attribute must be a text or a list of texts "
                  "(the Wolkvox evaluation attribute names this rule stands for)")
        attributes = []
    weight = raw.get("weight")
    if "weight" in raw and (isinstance(weight, bool) or not isinstance(weight, (int, float))
                            or not math.isfinite(weight) or weight <= 0):
        probs.add(file, _line(raw, "weight"), label, f"weight must be a finite number > 0, got {_show(weight)}")
    elif "weight" in raw and weight > MAX_WEIGHT:
        probs.add(file, _line(raw, "weight"), label, f"weight {weight:g} is over the limit of {MAX_WEIGHT:,}")
    severity = raw.get("severity")
    if "severity" in raw and severity not in SEVERITIES:
        probs.add(file, _line(raw, "severity"), label,
                  f"severity must be minor, major or critical, got {_show(severity)}{_did_you_mean(severity, SEVERITIES)}")
    when = _parse_when(raw.get("when"), probs, file, _line(raw, "when"), label, cs, acs)
    examples = _parse_examples(raw.get("examples"), kind, column, when, probs, file, _line(raw, "examples"), label)
    if len(probs.lines) > before or arg is None:
        return None
    return Rule(id=rid, title=texts["title"], description=texts.get("description", ""),
                field=column, kind=kind, arg=arg, when=when, negation=flags["negation"], weight=float(weight),
                severity=severity, case_sensitive=cs, accent_sensitive=acs, examples=examples, file=file,
                line=raw.line, attributes=tuple(a.strip() for a in attributes))


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
            problem = str(getattr(err, "problem", None) or err).splitlines()[0]
            probs.add(name, mark.line + 1 if mark else 1, None, f"invalid YAML: {_clip(problem) if len(problem) > 200 else problem}")
            continue
        except ValueError as err:  # an integer of more than 4,300 digits (Python's int limit)
            probs.add(name, 1, None, f"invalid YAML: {str(err).split(':')[0]}")
            continue
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            probs.add(name, _line(data), None, "expected a mapping with a 'rules:' list")
            continue
        for key in data:
            if key != "rules":
                probs.add(name, _line(data, key), None, f"unknown top-level key {_show(key)}{_did_you_mean(key, ['rules'])}")
        items = data["rules"]
        for i, raw in enumerate(items):
            rule = _parse_rule(raw, name, i, items.item_lines[i], probs, seen)
            if rule is not None:
                rules.append(rule)
    if probs.lines:
        _raise_problems(path, probs.lines)
    if not rules:
        raise RulePackError(f"{path}: the rule pack has no rules")
    total = math.fsum(r.weight for r in rules)
    if total > MAX_WEIGHT_SUM:
        raise RulePackError(f"{path}: the rule weights sum to {total:g}, over the limit of {MAX_WEIGHT_SUM:,}")
    digest = hashlib.sha256(json.dumps({"engine": ENGINE_VERSION, "rules": [r.spec() for r in sorted(rules, key=lambda r: r.id)]},
                                       sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return RulePack(rules=tuple(rules), hash=digest, path=path)


def _raise_problems(path: Path, lines: list[str]) -> None:
    if len(lines) == 1:
        raise RulePackError(lines[0])
    err = RulePackError(f"{len(lines)} problems in rule pack {path}\n" + "\n".join(lines))
    err.details = tuple(lines)  # the CLI prints them, one a line, before the `Error:` line
    raise err
