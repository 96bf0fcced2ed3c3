"""Survey answers → satisfied / dissatisfied / unknown, from one table, in Python and in SQL.

The mapping is data (`LabelMapping`): numeric scales with the score from which an answer counts as
satisfied, and folded word lists. `label()` applies it to one value (tests, messages); `sql()` turns
the same table into one CASE expression so labelling 40M interactions is a single set-based query.
Both fold text the same way (trim, collapse spaces, lower case, strip accents and end punctuation)
and read numbers the same way (digits with an optional ',' or '.' decimal part, nothing else), and a
test keeps them in agreement. Values neither rule knows are `unknown`: counted and reported, never
guessed.

Default (`scale = "auto"`), stated in the model report:
  * 1-5: 4 and 5 satisfied, 1-3 dissatisfied (**contract**: the complement of top-two-box CSAT);
    decimals as written ("4,5" satisfied, "3.5" dissatisfied).
  * above 5 and up to 10 can only be a 10-point scale: 8-10 satisfied, 6-7.9 dissatisfied;
    0 can only be a 0-10 scale: dissatisfied.
  * words (Spanish and English): see SATISFIED_WORDS / DISSATISFIED_WORDS; "regular"/"neutral" are
    the middle of a 5-point verbal scale, so dissatisfied like a 3.
Explicit scales ("1-5", "1-10", "0-10") accept only their range; 10-point scales count 8-10 as
satisfied (the same top-20% share as 4-5 of 5).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

SATISFIED = "satisfied"
DISSATISFIED = "dissatisfied"
UNKNOWN = "unknown"

SATISFIED_WORDS = (
    "satisfecho", "satisfecha", "muy satisfecho", "muy satisfecha", "bueno", "buena", "muy bueno",
    "muy buena", "bien", "muy bien", "excelente", "si", "yes", "good", "very good", "great",
    "excellent", "satisfied", "very satisfied", "happy",
)
DISSATISFIED_WORDS = (
    "insatisfecho", "insatisfecha", "muy insatisfecho", "muy insatisfecha", "malo", "mala",
    "muy malo", "muy mala", "mal", "pesimo", "pesima", "regular", "neutral", "no", "bad", "very bad",
    "poor", "terrible", "awful", "dissatisfied", "very dissatisfied", "unsatisfied",
)
# scale → (lowest, highest, satisfied from); "auto" is handled by AUTO_RULES.
SCALES = {"1-5": (1.0, 5.0, 4.0), "1-10": (1.0, 10.0, 8.0), "0-10": (0.0, 10.0, 8.0)}
# auto: (lowest, highest, satisfied from), first range that holds the value wins.
AUTO_RULES = ((1.0, 5.0, 4.0), (5.0, 10.0, 8.0), (0.0, 0.0, 8.0))

_NUMBER = re.compile(r"[0-9]{1,3}(?:[.,][0-9]+)?")
_NUMBER_SQL = "[0-9]{1,3}([.,][0-9]+)?"  # the same pattern for DuckDB's RE2 (full match)
# The same character classes in Python and in DuckDB (RE2), so both sides fold alike.
_WS = r"[ \t\r\n]"
_EDGES = r"^[ \t\r\n.!¡?¿]+|[ \t\r\n.!¡?¿]+$"
_TRIM = f"^{_WS}+|{_WS}+$"


def _trim(value: str) -> str:
    return re.sub(_TRIM, "", value)


def fold_answer(value: str) -> str:
    """Trim, collapse spaces, lower-case, strip accents and surrounding punctuation of a text answer."""
    text = re.sub(f"{_WS}+", " ", re.sub(_EDGES, "", value)).lower()
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


@dataclass(frozen=True)
class LabelMapping:
    """The survey mapping in force: a numeric scale plus satisfied / dissatisfied word lists."""

    scale: str = "auto"
    satisfied_words: tuple[str, ...] = SATISFIED_WORDS
    dissatisfied_words: tuple[str, ...] = DISSATISFIED_WORDS

    @classmethod
    def from_settings(cls, classifier) -> LabelMapping:
        """The default words plus the configured extras (a word configured on one side wins)."""
        extra_sat = tuple(fold_answer(w) for w in classifier.satisfied_words)
        extra_dis = tuple(fold_answer(w) for w in classifier.dissatisfied_words)
        sat = tuple(dict.fromkeys(w for w in SATISFIED_WORDS + extra_sat if w not in extra_dis))
        dis = tuple(dict.fromkeys(w for w in DISSATISFIED_WORDS + extra_dis if w not in extra_sat))
        return cls(scale=classifier.scale, satisfied_words=sat, dissatisfied_words=dis)

    def rules(self) -> tuple[tuple[float, float, float], ...]:
        return AUTO_RULES if self.scale == "auto" else (SCALES[self.scale],)

    def label(self, value: str | None) -> str | None:
        """satisfied / dissatisfied / unknown for one raw answer; None when there is no answer."""
        if value is None or _trim(value) in ("", "-"):
            return None
        text = _trim(value)
        if _NUMBER.fullmatch(text):
            x = float(text.replace(",", "."))
            for low, high, sat_from in self.rules():
                if low <= x <= high:
                    return SATISFIED if x >= sat_from else DISSATISFIED
            return UNKNOWN
        word = fold_answer(text)
        if word in self.satisfied_words:
            return SATISFIED
        if word in self.dissatisfied_words:
            return DISSATISFIED
        return UNKNOWN

    def sql(self, column: str = "survey_raw") -> tuple[str, dict]:
        """One CASE expression giving the label of `column`, and its bound parameters.

        `column` is a column name chosen by the caller (never user text); the word lists are bound
        as parameters, the scale numbers come from the fixed tables above.
        """
        raw = f"regexp_replace({column}, '{_TRIM}', '', 'g')"
        number = f"CAST(replace({raw}, ',', '.') AS DOUBLE)"
        numeric = " ".join(
            f"WHEN {number} BETWEEN {low!r} AND {high!r} THEN "
            f"CASE WHEN {number} >= {sat!r} THEN '{SATISFIED}' ELSE '{DISSATISFIED}' END"
            for low, high, sat in self.rules())
        folded = (f"strip_accents(lower(regexp_replace(regexp_replace({column}, '{_EDGES}', '', 'g'), "
                  f"'{_WS}+', ' ', 'g')))")
        expr = f"""CASE
            WHEN {column} IS NULL OR {raw} IN ('', '-') THEN NULL
            WHEN regexp_full_match({raw}, '{_NUMBER_SQL}') THEN CASE {numeric} ELSE '{UNKNOWN}' END
            WHEN list_contains($label_sat_words, {folded}) THEN '{SATISFIED}'
            WHEN list_contains($label_dis_words, {folded}) THEN '{DISSATISFIED}'
            ELSE '{UNKNOWN}' END"""
        return expr, {"label_sat_words": list(self.satisfied_words),
                      "label_dis_words": list(self.dissatisfied_words)}

    def describe(self) -> dict:
        """The mapping as the model report states it."""
        if self.scale == "auto":
            numeric = ("1-5: 4-5 satisfied, 1-3 dissatisfied; 6-10 (10-point scale): 8-10 satisfied; "
                       "0: dissatisfied; decimals with ',' or '.' as written")
        else:
            low, high, sat = SCALES[self.scale]
            numeric = f"{self.scale}: {sat:g}-{high:g} satisfied, {low:g}-below {sat:g} dissatisfied"
        return {"scale": self.scale, "numeric": numeric, "satisfied_words": list(self.satisfied_words),
                "dissatisfied_words": list(self.dissatisfied_words),
                "unknown": "any other answer: counted, never used"}
