"""Review files in: the two CSV shapes a QA team hands us, read into plain verdict rows.

- Wolkvox's evaluation export ("detalle de evaluación por atributo"): one row per evaluated
  attribute, `CONN_ID`, `AGENT`, `ATTRIBUTE`, `TYPE_ERROR`, `YES/NO` (or `SI/NO`, `CUMPLE`), `DATE`,
  `MATRIX`, optional `COMMENT`, `EVALUATOR`.
- The project's own shape (**contract**, what `reviews sample` writes): `case_id` or
  `interaction_id`, optional `channel`, `rule_id`, `verdict`, `reviewer`, optional `reviewed_at`,
  `note`.

The shape is told from the header; names are matched case- and accent-insensitively, the delimiter
is `,` or `;` (whichever the header uses), the text is UTF-8 with or without a BOM, else cp1252 (what
Excel writes as "Latin-1"). Nothing here touches the database: a bad file raises InputError naming
the file and line before anything is stored.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from qa_scoring.errors import InputError

MAX_FILE_BYTES = 200 * 1024 * 1024  # far above a year of evaluations; a bigger file is not a review file
MAX_CELL_CHARS = 20_000

# Verdict words (after folding: lower case, no accents, single spaces).
PASS_WORDS = {"pass", "cumple", "si", "yes", "y", "s", "1", "true", "ok", "aprobado", "cumplio"}
FAIL_WORDS = {"fail", "no cumple", "no", "n", "0", "false", "incumple", "no cumplio", "falla"}
NA_WORDS = {"na", "n/a", "n.a.", "no aplica", "not applicable", "-"}

WOLKVOX = "wolkvox"
OWN = "own"
OWN_COLUMNS = ("case_id", "channel", "interaction_id", "rule_id", "verdict", "reviewer", "reviewed_at", "note")
_WOLKVOX_VERDICT = ("yes/no", "si/no", "cumple", "yes no", "si no", "cumple/no cumple")
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
                 "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d",
                 "%Y%m%d%H%M%S")
_FORMULA_GUARD = re.compile(r"^'(?=[=+\-@\t\r])")  # what our CSV writers add before formula-looking text


def fold(text: str | None) -> str:
    """Lower case, accents removed, whitespace collapsed: how names and words are compared."""
    if text is None:
        return ""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.lower().split())


def quote(value: str | None, limit: int = 40) -> str:
    """A short, printable quotation of a cell for an error message."""
    text = " ".join(str(value or "").split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


@dataclass(frozen=True)
class ReviewRow:
    """One verdict as the file gives it (not yet matched to an interaction or a rule)."""

    line: int
    case_id: str | None
    interaction_id: str | None
    channel: str | None
    rule_id: str | None  # own shape
    attribute: str | None  # Wolkvox shape: matched to rules by their `attribute:` key
    verdict: str  # pass | fail | na
    reviewer: str
    reviewed_at: datetime | None
    note: str | None
    agent: str | None


@dataclass(frozen=True)
class ReviewFile:
    path: str
    shape: str  # wolkvox | own
    encoding: str
    delimiter: str
    rows: tuple[ReviewRow, ...]


def _decode(path: Path, raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), "cp1252"


def _delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") > header_line.count(",") else ","


def _cell(row: list[str], index: int | None) -> str | None:
    if index is None or index >= len(row):
        return None
    value = row[index].strip()
    if value[:1] == "'":
        value = _FORMULA_GUARD.sub("", value)
    return value or None


@functools.lru_cache(maxsize=256)
def _verdict_word(value: str | None) -> str | None:
    word = fold(value)
    if word in PASS_WORDS:
        return "pass"
    if word in FAIL_WORDS:
        return "fail"
    if word in NA_WORDS:
        return "na"
    return None


def parse_verdict(value: str | None, where: str) -> str:
    verdict = _verdict_word(value)
    if verdict is not None:
        return verdict
    raise InputError(f"{where}: verdict {quote(value)} is not pass, fail or na "
                     "(also cumple / no cumple / n/a / sí / no / yes)")


_last_format = [_DATE_FORMATS[0]]  # a file writes one format: try the one that worked last first


def parse_time(value: str | None, where: str, column: str) -> datetime | None:
    if value is None:
        return None
    text = value.strip()
    for fmt in (_last_format[0], *_DATE_FORMATS):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        _last_format[0] = fmt
        return parsed
    raise InputError(f"{where}: {column} {quote(value)} is not a date (YYYY-MM-DD [HH:MM[:SS]] or DD/MM/YYYY)")


def _columns(header: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, name in enumerate(header):
        key = fold(name.lstrip("\ufeff"))
        out.setdefault(key, i)
    return out


def read_review_file(path: Path, reviewer: str | None = None) -> ReviewFile:
    """Read one review file of either shape; InputError with file:line on anything unusable."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"{path}: {size:,} bytes is over the review file limit of {MAX_FILE_BYTES:,}")
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror or err})") from None
    text, encoding = _decode(path, raw)
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise InputError(f"{path}:1: empty file or empty header line")
    delimiter = _delimiter(first)
    csv.field_size_limit(MAX_CELL_CHARS * 4)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as err:
        raise InputError(f"{path}:1: unreadable header ({err})") from None
    cols = _columns(header)
    if "conn_id" in cols and "attribute" in cols:
        shape = WOLKVOX
        verdict_col = next((cols[k] for k in _WOLKVOX_VERDICT if k in cols), None)
        if verdict_col is None:
            raise InputError(f"{path}:1: Wolkvox evaluation export without a YES/NO (or SI/NO, CUMPLE) column")
    elif "rule_id" in cols and "verdict" in cols and ("case_id" in cols or "interaction_id" in cols):
        shape = OWN
        verdict_col = cols["verdict"]
    else:
        raise InputError(f"{path}:1: the header is neither Wolkvox's evaluation export (CONN_ID, ATTRIBUTE, "
                         "YES/NO, …) nor qa-scoring's review shape (case_id, rule_id, verdict, reviewer, …)")
    rows: list[ReviewRow] = []
    line = 1
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            where = f"{path}:{line}"
            if any(len(cell) > MAX_CELL_CHARS for cell in row):
                raise InputError(f"{where}: a cell is longer than {MAX_CELL_CHARS:,} characters")
            if shape == WOLKVOX:
                case_id, iid, channel = _cell(row, cols.get("conn_id")), None, _cell(row, cols.get("channel"))
                rule_id, attribute = None, _cell(row, cols.get("attribute"))
                who = _cell(row, cols.get("evaluator")) or reviewer
                when = parse_time(_cell(row, cols.get("date")), where, "DATE")
                note = _cell(row, cols.get("comment"))
                agent = _cell(row, cols.get("agent"))
                if attribute is None:
                    raise InputError(f"{where}: ATTRIBUTE is empty")
            else:
                case_id, iid = _cell(row, cols.get("case_id")), _cell(row, cols.get("interaction_id"))
                channel, rule_id, attribute = _cell(row, cols.get("channel")), _cell(row, cols.get("rule_id")), None
                who = _cell(row, cols.get("reviewer")) or reviewer
                when = parse_time(_cell(row, cols.get("reviewed_at")), where, "reviewed_at")
                note = _cell(row, cols.get("note"))
                agent = _cell(row, cols.get("agent_name"))
                if rule_id is None:
                    raise InputError(f"{where}: rule_id is empty")
            if case_id is None and iid is None:
                raise InputError(f"{where}: {'CONN_ID' if shape == WOLKVOX else 'case_id and interaction_id'} empty")
            verdict_text = _cell(row, verdict_col)
            if verdict_text is None:
                continue  # an unfilled line of an audit sample: not a verdict yet
            verdict = parse_verdict(verdict_text, where)
            if not who:
                raise InputError(f"{where}: no reviewer (fill the {'EVALUATOR' if shape == WOLKVOX else 'reviewer'} "
                                 "column or pass --reviewer NAME)")
            rows.append(ReviewRow(line=line, case_id=case_id, interaction_id=iid, channel=channel, rule_id=rule_id,
                                  attribute=attribute, verdict=verdict, reviewer=who.strip(), reviewed_at=when,
                                  note=note, agent=agent))
    except csv.Error as err:
        raise InputError(f"{path}:{reader.line_num or line}: unreadable CSV ({err})") from None
    return ReviewFile(path=str(path), shape=shape, encoding=encoding, delimiter=delimiter, rows=tuple(rows))
