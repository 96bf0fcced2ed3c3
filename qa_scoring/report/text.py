"""Hostile text made safe for a page: evidence highlighting by offsets, long-text excerpts, file names.

Highlighting never builds HTML: the raw text is split at the match offsets into `Segment`s, and the
template escapes each piece and wraps matches in `<mark>`. Offsets are 0-based character (code
point) offsets into the raw column, as the rules engine stores them; bad offsets are ignored.
Card numbers (and, with `personal`, other personal data) are masked first; masking keeps the length,
so the offsets mark the masked text.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from qa_scoring.mask import mask_text
from qa_scoring.report.data import Segment, TextField

SHOW_WHOLE = 4000  # texts up to this many characters are shown whole
HEAD = 1200  # of a longer text: its first characters ...
CONTEXT = 240  # ... and this much around every highlighted match
_SLUG_LENGTH = 40


def _merge(spans: list[tuple[int, int, str]], length: int) -> list[tuple[int, int, str]]:
    """Valid spans inside [0, length], sorted, overlapping ones merged (their labels joined)."""
    clean = sorted((s, e, label) for s, e, label in spans
                   if isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= length)
    merged: list[tuple[int, int, list[str]]] = []
    for start, end, label in clean:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            labels = last[2] if label in last[2] else [*last[2], label]
            merged[-1] = (last[0], max(last[1], end), labels)
        else:
            merged.append((start, end, [label]))
    return [(s, e, " · ".join(labels)) for s, e, labels in merged]


def _windows(length: int, spans: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    """The stretches of a long text worth showing: the head and the context of every match."""
    wanted = [(0, min(HEAD, length))] + [(max(0, s - CONTEXT), min(length, e + CONTEXT)) for s, e, _ in spans]
    wanted.sort()
    out: list[tuple[int, int]] = []
    for start, end in wanted:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def segment_text(key: str, text: str | None, spans: list[tuple[int, int, str]], personal: bool = False) -> TextField:
    """Split `text` (masked) at the evidence offsets into plain and marked segments (long texts excerpted)."""
    text = mask_text(text or "", personal)
    length = len(text)
    spans = _merge(spans, length)
    windows = [(0, length)] if length <= SHOW_WHOLE else _windows(length, spans)
    segments: list[Segment] = []
    previous_end = 0
    for w_start, w_end in windows:
        if w_start > previous_end:
            segments.append(Segment("…", gap=True))
        cursor = w_start
        for s, e, label in spans:
            if e <= w_start or s >= w_end:
                continue
            s, e = max(s, w_start), min(e, w_end)
            if s > cursor:
                segments.append(Segment(text[cursor:s]))
            segments.append(Segment(text[s:e], mark=True, label=label))
            cursor = e
        if cursor < w_end:
            segments.append(Segment(text[cursor:w_end]))
        previous_end = w_end
    if previous_end < length:
        segments.append(Segment("…", gap=True))
    return TextField(key, tuple(segments), length, length > SHOW_WHOLE)


def slug(name: str) -> str:
    """ASCII, lower case, dashes: 'Soporte N2 / Turno noche' → 'soporte-n2-turno-noche'."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    words = re.findall(r"[a-z0-9]+", folded)
    text = "-".join(words)[:_SLUG_LENGTH].strip("-")
    return text or "agent"


def agent_file_names(names: list[str]) -> dict[str, str]:
    """A safe, unique file name per agent name: slug + short hash of the exact name + '.html'.

    Safe for any name (slashes, dots, accents, emoji, 200 characters): only [a-z0-9-] and a fixed
    suffix, so no path traversal, hidden file or reserved name; the hash keeps 'Ana' and 'ana'
    apart. Should two hashes ever share a prefix, that pair gets a longer hash.
    """
    out: dict[str, str] = {}
    for width in (10, 16, 64):
        out = {n: f"{slug(n)}-{hashlib.sha256(n.encode('utf-8', 'surrogatepass')).hexdigest()[:width]}.html"
               for n in names}
        if len(set(out.values())) == len(out):
            return out
    return out
