"""Read chat_4 data (the API envelope, a bare JSON list, NDJSON or CSV) into raw string columns.

This is the one parse path shared by `import`, `fetch` and `rebuild`: it only checks the *shape* of the
payload and hands every row over as strings, untouched. Typing (dates, survey score), the blank
conventions of the API (`""`, `" "`, `"-"`, `0000-00-00 00:00:00`) and per-row quarantine are done
set-based in DuckDB by `store.derive_page`, so 1M rows never go through a Python loop per field.
"""

from __future__ import annotations

import csv
import hashlib
import io
import gc
import json
from operator import itemgetter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa

from qa_scoring.errors import DataFileError

# The chat_4 row fields, in the API's order. `status` is documented by the vendor but missing from the
# seed card; every field is optional in a row (the vendor's own sample omits cod_description).
FIELDS = (
    "channel", "agent_name", "skill_id", "case_id", "subject", "from", "to", "body", "answer",
    "date_creation", "close_date", "evaluation_survey", "cod_act", "cod_description", "comments",
    "attachments", "status",
)
# Columns without which a file cannot be chat_4 data at all (a CSV header or a JSON file in which no
# row has them). A single row missing one of them is quarantined instead.
REQUIRED = ("channel", "agent_name", "case_id", "date_creation", "body", "answer")
# Column names in the database: `from`/`to` are SQL keywords.
COLUMN_NAMES = {"from": "from_addr", "to": "to_addr"}
_FIELD_SET = frozenset(FIELDS)
_GET_ALL = itemgetter(*FIELDS)
STAGED_SCHEMA = pa.schema(
    [("position", pa.int64())]
    + [(COLUMN_NAMES.get(f, f), pa.string()) for f in FIELDS]
    + [("extra", pa.string()), ("shape_error", pa.string())]
)


@dataclass(frozen=True)
class ParsedPage:
    """One payload's rows as an Arrow table of strings plus what is needed to land it verbatim."""

    rows: pa.Table  # position, the 17 fields (renamed per COLUMN_NAMES), extra, shape_error
    payload: bytes
    sha256: str
    format: str  # json | ndjson | csv


def column_name(field: str) -> str:
    return COLUMN_NAMES.get(field, field)


def _as_text(value: object) -> str | None:
    """API values are strings; tolerate numbers, booleans and nested JSON (attachments) as text."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _text_column(values: tuple | list) -> pa.Array:
    """Strings to Arrow; the rare non-string values (numbers, nested attachments) become text."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([_as_text(v) for v in values], pa.string())


def _rows_table(rows: list, label: str) -> pa.Table:
    """Turn a list of row objects into the staged Arrow table, column-wise (no per-field loop)."""
    n = len(rows)
    shape_error: list[str | None] = [None] * n
    not_objects: dict[int, str] = {}
    if set(map(type, rows)) - {dict}:
        rows = list(rows)
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                shape_error[i] = f"row is a {type(row).__name__}, not an object"
                not_objects[i] = json.dumps(row, ensure_ascii=False)  # kept for the quarantine
                rows[i] = {}
    try:  # fast path: every row has every field (what the API sends)
        columns = list(zip(*map(_GET_ALL, rows))) if n else [() for _ in FIELDS]
    except KeyError:
        columns = [[r.get(name) for r in rows] for name in FIELDS]
    extra: list[str | None] = [None] * n
    for i, text in not_objects.items():
        extra[i] = text
    for i, r in enumerate(rows):
        if not _FIELD_SET.issuperset(r):
            extra[i] = json.dumps({k: r[k] for k in r if k not in _FIELD_SET}, ensure_ascii=False, sort_keys=True)
    arrays = [pa.array(range(n), pa.int64())] + [_text_column(c) for c in columns]
    arrays += [pa.array(extra, pa.string()), pa.array(shape_error, pa.string())]
    if n:
        for name in REQUIRED:
            if arrays[1 + FIELDS.index(name)].null_count == n:
                raise DataFileError(f"{label}: missing required column '{name}'")
    return pa.Table.from_arrays(arrays, schema=STAGED_SCHEMA)


def _envelope_rows(doc: object, label: str) -> list:
    """The API envelope {"code", "error", "msg", "data"} or a bare list → the list of rows."""
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        raise DataFileError(f"{label}: expected a chat_4 envelope or a list of rows, got {type(doc).__name__}")
    if "data" not in doc:
        raise DataFileError(f"{label}: JSON object has no 'data' list (not a chat_4 envelope)")
    code = doc.get("code")
    if code is not None and str(code).strip() not in ("200", ""):
        error = doc.get("error") or ""
        msg = doc.get("msg") or ""
        raise DataFileError(f"{label}: envelope reports code {code}: {error} {msg}".rstrip())
    data = doc["data"]
    if data is None:
        return []
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise DataFileError(f"{label}: 'data' is a {type(data).__name__}, expected a list")
    return data


def _decode(payload: bytes, label: str) -> str:
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataFileError(f"{label}: not UTF-8 text (byte {err.start})") from None


def parse_json(payload: bytes, label: str) -> ParsedPage:
    """Parse an API response body or JSON/NDJSON file."""
    with _gc_paused():
        return _parse_json(payload, label)


@contextmanager
def _gc_paused():
    """Millions of new dicts and strings make the cyclic GC rescan everything: 3x slower loads."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_json(payload: bytes, label: str) -> ParsedPage:
    fmt = "json"
    body = payload[3:] if payload.startswith(b"\xef\xbb\xbf") else payload
    try:
        # orjson parses a page 2.5-4x faster than the standard library (the import's bottleneck,
        # benchmarks/bench_import.py) and checks UTF-8 itself; anything it refuses (NDJSON, huge
        # integers, bad bytes) takes the standard path below, which also words the error.
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = _parse_json_slowly(payload, label)
        if isinstance(doc, tuple):
            fmt, doc = doc
    rows = _envelope_rows(doc, label)
    return ParsedPage(_rows_table(rows, label), payload, hashlib.sha256(payload).hexdigest(), fmt)


def _parse_json_slowly(payload: bytes, label: str):
    """The standard library's parse: precise errors, and NDJSON (returned as ("ndjson", rows))."""
    text = _decode(payload, label)
    if not text or text.isspace():
        raise DataFileError(f"{label}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg != "Extra data":
            raise DataFileError(f"{label}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
        doc = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    doc.append(json.loads(line))
                except json.JSONDecodeError as line_err:
                    raise DataFileError(f"{label}: not valid JSON lines (line {lineno}: {line_err.msg})") from None
        return "ndjson", doc


def parse_csv(payload: bytes, label: str) -> ParsedPage:
    """Parse a CSV export with the chat_4 column names as its header."""
    text = _decode(payload, label)
    if not text or text.isspace():
        raise DataFileError(f"{label}: empty file")
    if "\x00" in text:
        raise DataFileError(f"{label}: binary data, not CSV")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        records = list(reader)
    except csv.Error as err:
        raise DataFileError(f"{label}: not valid CSV ({err})") from None
    header = [h.strip() for h in header]
    for name in REQUIRED:
        if name not in header:
            raise DataFileError(f"{label}: missing required column '{name}'")
    rows: list = []
    shape: list[str | None] = []
    for record in records:
        if not any(cell.strip() for cell in record):
            continue  # blank line
        if len(record) != len(header):
            shape.append(f"row has {len(record)} fields, header has {len(header)}")
        else:
            shape.append(None)
        rows.append(dict(zip(header, record)))
    table = _rows_table(rows, label)
    table = table.set_column(table.schema.get_field_index("shape_error"), "shape_error",
                             pa.array(shape, pa.string()))
    return ParsedPage(table, payload, hashlib.sha256(payload).hexdigest(), "csv")


def parse_payload(payload: bytes, label: str, fmt: str | None = None) -> ParsedPage:
    """Parse bytes as JSON (envelope, list, NDJSON) or CSV; `fmt` forces one, else guess from content."""
    if fmt is None:
        head = payload.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        fmt = "json" if head in (b"{", b"[") else "csv"
    return parse_csv(payload, label) if fmt == "csv" else parse_json(payload, label)


def read_file(path: Path) -> ParsedPage:
    """Read and parse one data file; every problem names the file."""
    label = str(path)
    try:
        payload = path.read_bytes()
    except OSError as err:
        raise DataFileError(f"{label}: {err.strerror or err}") from None
    suffix = path.suffix.lower()
    fmt = "csv" if suffix == ".csv" else "json" if suffix in (".json", ".ndjson", ".jsonl") else None
    return parse_payload(payload, label, fmt)
