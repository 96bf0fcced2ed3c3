"""Text matching for rules: the one folding helper, phrase and negation patterns, RE2 validation, SQL quoting.

Patterns run on the RAW text as case-insensitive RE2 with accent classes (a → [aáàâäã], ...): DuckDB's
strip_accents is slow (~30 MB/s per thread, see MEASURED.md) and a folded copy would cost storage.
RE2's `\\b` only knows ASCII letters and RE2 has no lookaround, so whole words use explicit edges that
know accented letters (`(?:^|[^\\pL\\pN_])`). Phrases are user data: escaped here, bound as query
parameters by the compiler, never pasted into SQL text.
"""

from __future__ import annotations

import re
import unicodedata

import duckdb

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


def negation_pattern(phrases: list[str], *, case_sensitive: bool = False, accent_sensitive: bool = False,
                     capture: bool = True) -> str:
    """RE2 for a phrase preceded (within a few words) by a negation cue.

    Group 1 is everything up to the phrase, group 2 the phrase minus its first character: replacing
    matches with `\\1ǂ\\2` spoils exactly the negated occurrences while keeping every character offset.
    `capture=False` gives the same matches without the groups (RE2 then finds them with its DFA alone).
    """
    cues = "|".join(escape_phrase(c) for c in NEGATION_CUES)
    rests = "|".join(escape_phrase(p.strip()[1:], case_sensitive=case_sensitive, accent_sensitive=accent_sensitive)
                     if len(p.strip()) > 1 else "" for p in phrases)
    gap = r"[^\pL\pN_.!?;]+"  # the cue's reach stops at the end of a sentence
    context = f"(?:{gap}{WORD}+){{0,{NEGATION_WINDOW}}}?{gap}"
    head = "(?i)" if not case_sensitive else ""
    group = "(" if capture else "(?:"
    return f"{head}{group}{LEFT_EDGE}(?i:{cues}){context})(?s:.){group}(?:{rests}){RIGHT_EDGE})"


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
