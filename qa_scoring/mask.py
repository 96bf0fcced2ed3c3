"""Masking of card data (always) and other personal data (on request) in everything we show or export.

PCI DSS lets a displayed card number (PAN) show at most its first six and last four digits; we keep
only the last four. A 3-4 digit code named as a CVV / CVC / security code, or standing within a few
characters after a card number, is masked whole. With `personal=True` (`[report] mask_personal`),
e-mail addresses, phone numbers and document numbers are masked too: reports are printed and
shared (Colombia's Ley 1581 and similar laws).

Every mask replaces a character with exactly one character (a digit or letter with `•`), so text
keeps its length and the evidence offsets of the rules engine still point at the same places: the
highlight lands on the masked text. This module is the one owner of these patterns: report pages,
the backtest page and the exports all call it.
"""

from __future__ import annotations

import re

import duckdb

DOT = "\u2022"  # •, one code point
KEEP_LAST = 4  # digits of a card number left visible

_SEP = r"[ \u00a0.\-]"
# 13-19 digits, single separators between them allowed ("4242 4242 4242 4242", "4242-4242-...").
CARD_RE = re.compile(rf"(?<![0-9])[0-9](?:{_SEP}?[0-9]){{12,18}}(?![0-9])")
# A security code named as such: "CVV 123", "cvc: 1234", "código de seguridad es 123".
_CVV_WORDS = (r"cvv2?|cvc2?|cvn|cid|c[oó]d(?:igo)?\.?\s*(?:de\s+)?seguridad|security\s+code|"
              r"card\s+verification(?:\s+code)?")
CVV_NAMED_RE = re.compile(rf"(?i)(?<![a-z])(?:{_CVV_WORDS})(?![a-z])[^0-9\n]{{0,25}}?([0-9]{{3,4}})(?![0-9])")
# ... or a lone 3-4 digit group shortly after a card number (not a date such as 12/28).
CVV_NEAR = 40
_LONE_CODE_RE = re.compile(r"(?<![0-9/])[0-9]{3,4}(?![0-9/])")

# Personal data (opt-in).
EMAIL_RE = re.compile(r"(?<![\w.+-])([\w.+-])([\w.+-]*)@([\w-]+(?:\.[\w-]+)*)\.([A-Za-z]{2,24})(?![\w-])")
# A document named as such: "CC 1.023.456.789", "cédula: 52123456", "NIT 900.123.456-7", "pasaporte AB123456".
DOCUMENT_RE = re.compile(
    r"(?i)(?<![a-z])(?:c\.?\s?c\.?|c[eé]dula(?:\s+de\s+ciudadan[ií]a)?|nit|documento|doc\.?|pasaporte|passport|"
    r"dni|rut|c\.?\s?e\.?|t\.?\s?i\.?|id)(?![a-z])[\s:#.nNoº°]{0,8}([A-Za-z]{0,3}[0-9][0-9 .\-]{3,16}[0-9])")
# Phone-like runs: 7 to 15 digits with the usual separators ("+57 300 123 4567", "(601) 555-1234").
PHONE_RE = re.compile(r"(?<![0-9$€£.,])\+?\(?[0-9](?:[ ().\-]{0,2}[0-9]){6,14}(?![0-9])")
# ... that are not dates or times ("2026-11-02", "02/11/2026 10:15").
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}[/-][0-9]{1,2}[/-][0-9]{2,4}")
KEEP_PERSONAL = 2  # digits left visible at the end of a phone or document number


def _dots(text: str, keep_last_digits: int = 0) -> str:
    """Replace every digit and letter of `text` with •, except the last `keep_last_digits` digits."""
    digits = sum(c.isdigit() for c in text)
    keep_from = digits - keep_last_digits
    out, seen = [], 0
    for c in text:
        if c.isdigit():
            out.append(c if seen >= keep_from else DOT)
            seen += 1
        elif c.isalpha():
            out.append(DOT)
        else:
            out.append(c)
    return "".join(out)


def _splice(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Put same-length replacements into `text` (spans do not overlap after sorting)."""
    if not spans:
        return text
    out, cursor = [], 0
    for start, end, repl in sorted(spans):
        if start < cursor:
            continue
        out.append(text[cursor:start])
        out.append(repl)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def mask_cards(text: str | None) -> str | None:
    """Card numbers to their last four digits, and the CVVs named or standing next to them, masked."""
    if not text or not any(c.isdigit() for c in text):
        return text
    spans = []
    for m in CARD_RE.finditer(text):
        spans.append((m.start(), m.end(), _dots(m.group(), KEEP_LAST)))
        tail = text[m.end():m.end() + CVV_NEAR]
        for code in _LONE_CODE_RE.finditer(tail):
            s = m.end() + code.start()
            spans.append((s, s + len(code.group()), DOT * len(code.group())))
            break
    for m in CVV_NAMED_RE.finditer(text):
        spans.append((m.start(1), m.end(1), DOT * len(m.group(1))))
    return _splice(text, _dedupe(spans))


def mask_personal(text: str | None) -> str | None:
    """E-mail addresses, document numbers and phone numbers masked (first letter / last digits kept)."""
    if not text:
        return text
    spans = []
    for m in EMAIL_RE.finditer(text):
        local_rest, domain = m.group(2), m.group(3)
        spans.append((m.start(2), m.end(2), DOT * len(local_rest)))
        spans.append((m.start(3), m.end(3), re.sub(r"[^.\-]", DOT, domain)))
    for m in DOCUMENT_RE.finditer(text):
        spans.append((m.start(1), m.end(1), _dots(m.group(1), KEEP_PERSONAL)))
    for m in PHONE_RE.finditer(text):
        if not _DATE_RE.match(m.group()):
            spans.append((m.start(), m.end(), _dots(m.group(), KEEP_PERSONAL)))
    return _splice(text, _dedupe(spans))


def _dedupe(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping spans: the one that starts first (then the longer) wins."""
    out: list[tuple[int, int, str]] = []
    for start, end, repl in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        if out and start < out[-1][1]:
            continue
        out.append((start, end, repl))
    return out


def mask_text(text: str | None, personal: bool = False) -> str | None:
    """What a page or an export may show of `text`: cards always masked, personal data on request.
    The result has exactly the length of `text` (evidence offsets stay valid)."""
    if text is None:
        return None
    masked = mask_cards(text)
    return mask_personal(masked) if personal else masked


# --- in SQL (exports) -------------------------------------------------------------------------------

# Rows worth the Python call: 13+ digits in a run, or a security-code word. Everything else passes
# through DuckDB untouched, so an export of millions of rows calls Python for the few that need it.
SQL_SUSPECT = r"[0-9]([ .\-]?[0-9]){12}|(?i:cvv|cvc|cvn|seguridad|security code|verification)"
SQL_FUNCTION = "qa_mask_cards"


def register_sql(con: duckdb.DuckDBPyConnection) -> None:
    """Make `qa_mask_cards(VARCHAR)` available on this connection (idempotent)."""
    try:
        con.create_function(SQL_FUNCTION, mask_cards, ["VARCHAR"], "VARCHAR", null_handling="special",
                            side_effects=False)
    except duckdb.Error as err:  # already registered on this connection
        if "already" not in str(err).lower():
            raise


def masked_sql(expr: str) -> str:
    """SQL of `expr` (a VARCHAR) with card data masked; needs `register_sql` on the connection."""
    return (f"CASE WHEN regexp_matches({expr}, '{SQL_SUSPECT}') THEN {SQL_FUNCTION}({expr}) ELSE {expr} END")
