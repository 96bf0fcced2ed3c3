"""A stored rule's check and applicability (its `Rule.spec()`, kept with the pack) in plain words.

A failure with evidence shows the evidence; a failure because something is *missing* (no greeting,
an empty note) has none, so its review card says what the rule expected and why it applied to this
interaction (every `when` condition held, and the field it reads was not blank). Words come from the
report's catalogue; phrases and patterns are shown as the pack wrote them (escaped by the template).
"""

from __future__ import annotations

from typing import Any

MAX_VALUES = 4  # phrases or values listed before "and N more"
MAX_CHARS = 80  # of one phrase or pattern
# check kinds that are N/A on a blank field (rules/README.md, "the N/A policy"): they applied, so it was not
_TEXT_KINDS = frozenset({"contains_any", "contains_none", "matches", "not_matches", "length", "in_set", "not_in_set"})


def _field(fmt, name: str) -> str:
    return fmt.label(f"fw_{name}", name)


def _values(fmt, values: Any) -> str:
    values = [values] if isinstance(values, str) else list(values or [])
    shown = [f"«{v if len(str(v)) <= MAX_CHARS else str(v)[:MAX_CHARS - 1] + '…'}»" for v in values[:MAX_VALUES]]
    if len(values) > MAX_VALUES:
        shown.append(fmt.t("fw_more", n=len(values) - MAX_VALUES))
    return ", ".join(shown)


def why_applied(spec: dict | None, fmt) -> str:
    """Why the rule applied (its `when` held, its field was not blank), e.g. "the channel is «Email»"."""
    if not isinstance(spec, dict):
        return ""
    parts = []
    for key, value in (spec.get("when") or {}).items():
        if key in ("field_contains", "field_matches", "min_length") and isinstance(value, dict):
            for field, arg in value.items():
                if key == "field_contains":
                    parts.append(fmt.t("w_contains", field=_field(fmt, field), values=_values(fmt, arg)))
                elif key == "field_matches":
                    parts.append(fmt.t("w_matches", field=_field(fmt, field), values=_values(fmt, arg)))
                else:
                    parts.append(fmt.t("w_min_length", field=_field(fmt, field), n=fmt.num(arg)))
        else:
            one = isinstance(value, str) or len(value or []) == 1
            parts.append(fmt.t("w_in_one" if one else "w_in", field=_field(fmt, key), values=_values(fmt, value)))
    if spec.get("kind") in _TEXT_KINDS and spec.get("field"):
        parts.append(fmt.t("w_not_blank", field=_field(fmt, spec["field"])))
    return "; ".join(parts) or fmt.t("w_always")


def what_expected(spec: dict | None, fmt) -> str:
    """What a rule that fails without evidence looked for, e.g. "one of «hola», … in the agent's answer"."""
    if not isinstance(spec, dict) or not spec.get("field"):
        return ""
    field, kind, arg = _field(fmt, spec["field"]), spec.get("kind"), spec.get("arg")
    if kind == "contains_any":
        return fmt.t("x_contains_any", field=field, values=_values(fmt, arg))
    if kind == "matches":
        return fmt.t("x_matches", field=field, values=_values(fmt, arg))
    if kind == "not_empty":
        return fmt.t("x_not_empty", field=field)
    return ""  # the other kinds fail with evidence (the phrase found, the length, the value)
