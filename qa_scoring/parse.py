"""Read chat_4 data (the API envelope, a bare JSON list, NDJSON or CSV) into raw string columns.

This is the one parse path shared by `import`, `fetch` and `rebuild`: it only checks the *shape* of the
payload and hands every row over as strings, untouched. Typing (dates, survey score), the blank
conventions of the API (`""`, `" "`, `"-"`, `0000-00-00 00:00:00`) and per-row quarantine are done
set-based in DuckDB by `store.derive_page`, so 1M rows never go through a Python loop per field.

Two JSON paths give the same table. Large payloads go to DuckDB's JSON reader (C++, no Python object
per row: the parse of 1M rows went from ~10.5 s to ~5.7 s, benchmarks/bench_import.py) when a check
in DuckDB (one RE2 pass over the text) proves that every row is an object whose keys are chat_4
fields and whose values are strings or null. Anything else (non-string values, extra keys, rows
that are not objects, NDJSON, invalid JSON) takes the Python path, which also words every error, so
the result never depends on which path ran (tests/test_import_fast.py).
"""

from __future__ import annotations

import csv
import dataclasses
import gc
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from qa_scoring.errors import DataFileError, secret_regexes

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


log = logging.getLogger(__name__)

# Payloads from this size on try DuckDB's JSON reader first (below it, starting DuckDB and writing a
# temporary file cost more than orjson). Tests set it to 0 to run the DuckDB path on small files.
DUCKDB_MIN_BYTES = 1 << 20
# Payloads from this size on are compressed in a background thread while they are parsed and landed
# (both codecs release the GIL): zlib took 4.4 s of the 1M-row import on the critical path.
BACKGROUND_COMPRESS_BYTES = 1 << 20
# raw_pages.payload holds the verbatim payload compressed losslessly with the codec named in
# raw_pages.payload_codec. New pages use zstd level 1 (pyarrow's codec, a standard zstd frame): on
# the 784 MiB page of 1M rows it takes 0.9 s for 0.150 of the size, where zlib level 1 took 4.3 s
# for 0.230, zstd level 3 1.1 s for 0.139 and lz4 1.1 s for 0.268. The whole import of that page,
# alternating runs (benchmarks/bench_import.py --codecs): 8.9-9.7 s with zstd 1 in the background,
# 9.8-10.8 s with it on the critical path, 9.8-10.0 s with zstd 3, 11.3-13.4 s with zlib 1.
# Pages landed before schema v3 are zlib and stay readable.
PAYLOAD_CODEC = "zstd"
CODEC_LEVELS = {"zstd": 1, "zlib": 1}


def compress_payload(payload: bytes, codec: str | None = None) -> bytes:
    """The payload compressed with `codec` (default PAYLOAD_CODEC) for raw_pages.payload."""
    codec = codec or PAYLOAD_CODEC
    if codec == "zstd":
        return pa.Codec("zstd", compression_level=CODEC_LEVELS["zstd"]).compress(payload, asbytes=True)
    if codec == "zlib":
        return zlib.compress(payload, CODEC_LEVELS["zlib"])
    raise ValueError(f"unknown payload codec {codec!r}")


def decompress_payload(blob: bytes, codec: str, size: int) -> bytes:
    """The original bytes of a raw_pages.payload blob; `size` is raw_pages.bytes (zstd needs it).

    Does not prove the result right (a wrong `size` gives a wrong length): store.raw_payload
    checks the stored sha256.
    """
    if codec == "zstd":
        return pa.Codec("zstd").decompress(blob, size, asbytes=True)
    if codec == "zlib":
        return zlib.decompress(blob)
    raise ValueError(f"unknown payload codec {codec!r}")


class _Compressor:
    """The payload compressed for raw_pages (PAYLOAD_CODEC); computed in a background thread when
    started."""

    def __init__(self, payload: bytes, codec: str | None = None):
        self._payload = payload
        self.codec = codec or PAYLOAD_CODEC
        self._thread: threading.Thread | None = None
        self._result: bytes | None = None
        self._error: BaseException | None = None

    def start(self) -> "_Compressor":
        if len(self._payload) >= BACKGROUND_COMPRESS_BYTES:
            self._thread = threading.Thread(target=self._run, name="qa-scoring-compress", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._result = compress_payload(self._payload, self.codec)
        except BaseException as err:  # re-raised in the caller's thread by result()
            self._error = err

    def result(self) -> tuple[str, bytes]:
        """(codec, compressed payload)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        if self._result is None:
            self._result = compress_payload(self._payload, self.codec)
        return self.codec, self._result


@dataclass(frozen=True)
class ParsedPage:
    """One payload's rows as an Arrow table of strings plus what is needed to land it verbatim."""

    rows: pa.Table  # position, the 17 fields (renamed per COLUMN_NAMES), extra, shape_error
    payload: bytes
    sha256: str
    format: str  # json | ndjson | csv
    compressor: _Compressor | None = dataclasses.field(default=None, compare=False, repr=False)

    def compressed(self) -> tuple[str, bytes]:
        """(codec, blob): the payload as stored in raw_pages.payload_codec and raw_pages.payload
        (`decompress_payload` gives it back)."""
        return (self.compressor or _Compressor(self.payload)).result()


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


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_column(values: tuple | list) -> pa.Array:
    """Strings to Arrow; the rare non-string values (numbers, nested attachments) become text.

    A lone surrogate escape ("\\ud800", valid JSON but not text) becomes U+FFFD; the payload itself
    is kept verbatim in raw_pages.
    """
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
        texts = [_as_text(v) for v in values]
        return pa.array([t if t is None else _SURROGATE.sub("\ufffd", t) for t in texts], pa.string())


class NestedTooDeep(DataFileError):
    """JSON nested deeper than the JSON readers can follow (orjson: 1,024 levels)."""


TOO_DEEP = "JSON nested too deeply (over 1,000 levels, the JSON readers' limit)"


def _rows_table(rows: list, label: str) -> pa.Table:
    """Turn a list of row objects into the staged Arrow table, column-wise (no per-field loop)."""
    try:
        return _rows_table_of(rows, label)
    except RecursionError:  # a value of ~1,000 levels (orjson's limit) is too deep for json.dumps
        raise NestedTooDeep(f"{label}: a value is {TOO_DEEP}") from None


def _rows_table_of(rows: list, label: str) -> pa.Table:
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
    arrays += [_text_column(extra), pa.array(shape_error, pa.string())]
    table = pa.Table.from_arrays(arrays, schema=STAGED_SCHEMA)
    _check_required(table, n, label)
    return table


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
    if len(payload) >= DUCKDB_MIN_BYTES:
        page = _parse_json_duckdb(payload, label)
        if page is not None:
            return page
    with _gc_paused():
        return _parse_json(payload, label)


# --- the DuckDB path ------------------------------------------------------------------------------

_WS = b" \t\r\n"
_ENVELOPE_HEAD = 1 << 16  # the members before "data" (code, error, msg) are short


def _rows_span(body: bytes, offset: int = 0) -> tuple[int, int] | None:
    """Byte range of the rows array: the whole of a bare list, or the envelope's "data" list when it
    is the last member. None when the layout is anything else (the Python path handles it).

    The members before "data" are decoded by the standard library and validated like the Python
    path does; whether the range really is one JSON array is left to DuckDB (which refuses trailing
    members), so a wrong guess only costs the fallback.
    """
    start, end = _skip_ws(body, offset), _skip_ws_back(body, len(body))  # no copies of a 1 GB payload
    if body[start:start + 1] == b"[":
        return (start, end) if body[end - 1:end] == b"]" else None
    if body[start:start + 1] != b"{" or body[end - 1:end] != b"}":
        return None
    tail = _skip_ws_back(body, end - 1)
    if body[tail - 1:tail] != b"]":
        return None
    head_bytes = body[start:start + _ENVELOPE_HEAD]
    try:
        text = head_bytes.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head_bytes) - 3:
            return None  # not UTF-8: the Python path words the error
        text = head_bytes[:err.start].decode("utf-8")  # a multi-byte character cut at the end
    decoder = json.JSONDecoder()
    head: dict = {}
    pos = 1
    try:
        while True:
            pos = _skip_ws(text, pos)
            key, pos = decoder.raw_decode(text, pos)
            pos = _skip_ws(text, pos)
            if not isinstance(key, str) or text[pos] != ":":
                return None
            pos = _skip_ws(text, pos + 1)
            if key == "data":
                break
            head[key], pos = decoder.raw_decode(text, pos)
            pos = _skip_ws(text, pos)
            if text[pos] != ",":
                return None
            pos += 1
    except (ValueError, IndexError):
        return None
    if text[pos:pos + 1] != "[":
        return None
    try:
        _envelope_rows({**head, "data": []}, "")
    except DataFileError:
        return None  # an error envelope: the Python path words it
    data_start = start + len(text[:pos].encode("utf-8"))
    return data_start, tail


_WS_RUN = re.compile(rb"[ \t\r\n]*")
_WS_RUN_TEXT = re.compile(r"[ \t\r\n]*")
_BACK_BLOCK = 1 << 16


def _skip_ws(text: str | bytes, pos: int) -> int:
    """Index of the first non-whitespace character from `pos` (IndexError at the end of a str).

    A regex match, not a loop in Python: a body of 8 MB of whitespace took 8 s byte by byte."""
    pos = (_WS_RUN if isinstance(text, bytes) else _WS_RUN_TEXT).match(text, pos).end()
    if pos >= len(text) and isinstance(text, str):
        raise IndexError(pos)
    return pos


def _skip_ws_back(body: bytes, end: int) -> int:
    """End of `body[:end]` without its trailing whitespace (block by block: no copy of the body)."""
    while end > 0:
        block = body[max(end - _BACK_BLOCK, 0):end]
        kept = len(block.rstrip(_WS))
        if kept:
            return end - len(block) + kept
        end -= len(block)
    return 0


def first_byte(payload: bytes) -> bytes:
    """The first byte after a BOM and whitespace (b"" when there is none), without copying."""
    start = 3 if payload.startswith(b"\xef\xbb\xbf") else 0
    pos = _WS_RUN.match(payload, start).end()
    return payload[pos:pos + 1]


def _json_columns_sql() -> str:
    return "{" + ", ".join(f"'{f}': 'VARCHAR'" for f in FIELDS) + "}"


def _plain_rows_regex() -> str:
    """RE2 pattern of a JSON array of objects whose keys are chat_4 field names (each written plainly)
    and whose values are strings or null: the rows that DuckDB's VARCHAR columns read exactly as the
    Python path does. JSON validity itself (escapes, control characters, UTF-8, duplicate keys) is
    checked by DuckDB's reader, which refuses the file otherwise."""
    ws = "[ \\t\\r\\n]*"
    string = r'"(?:[^"\\]|\\.)*"'
    member = f'"(?:{"|".join(FIELDS)})"{ws}:{ws}(?:{string}|null){ws}'
    row = f"\\{{{ws}(?:{member}(?:,{ws}{member})*)?\\}}"
    return f"{ws}\\[{ws}(?:{row}{ws}(?:,{ws}{row}{ws})*)?\\]{ws}"


_PLAIN_ROWS = _plain_rows_regex()


def _scratch_dir(size: int) -> str | None:
    """Where to put the rows array for DuckDB: memory-backed /dev/shm when it has room (writing 800 MB
    there takes 0.3 s, to a disk-backed /tmp 1.8 s), else the default temporary folder."""
    shm = "/dev/shm"
    try:
        if os.path.isdir(shm) and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 3 * size:
            return shm
    except OSError:
        pass
    return None


def _parse_json_duckdb(payload: bytes, label: str) -> ParsedPage | None:
    """The rows through DuckDB's JSON reader, or None when the payload is not plain chat_4 rows."""
    span = _rows_span(payload, 3 if payload.startswith(b"\xef\xbb\xbf") else 0)  # after a BOM
    if span is None:
        return None
    fd, path = tempfile.mkstemp(prefix="qa-scoring-rows-", suffix=".json", dir=_scratch_dir(span[1] - span[0]))
    con = None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(memoryview(payload)[span[0]:span[1]])
        con = duckdb.connect()
        select = ", ".join(f'"{f}" AS {column_name(f)}' for f in FIELDS)
        reader = f"read_json($path, format = 'array', columns = {_json_columns_sql()})"
        # DuckDB reads one JSON array on one thread: the shape check (one RE2 pass over the text)
        # runs beside it on another connection of the same database.
        check: dict = {}

        def run_check() -> None:
            try:
                check["plain"] = con.cursor().execute(
                    "SELECT regexp_full_match(content, $pattern) FROM read_text($path)",
                    {"path": path, "pattern": _PLAIN_ROWS}).fetchall()[0][0]
            except BaseException as err:  # noqa: BLE001 - re-raised by the reading thread
                check["error"] = err

        thread = threading.Thread(target=run_check, name="qa-scoring-json-check", daemon=True)
        thread.start()
        try:
            table = con.cursor().sql(f"SELECT {select} FROM {reader}", params={"path": path}).to_arrow_table()
            sha256 = hashlib.sha256(payload).hexdigest()  # while the check finishes (it is the longer)
        finally:
            thread.join()
        if "error" in check:
            raise check["error"]
    except duckdb.Error as err:
        log.debug("%s: DuckDB's JSON reader declined (%s); using the Python parser",
                  label, str(err).splitlines()[0])
        return None
    finally:
        if con is not None:
            con.close()
        try:
            os.unlink(path)
        except OSError:
            pass
    if not check["plain"]:
        log.debug("%s: rows are not plain chat_4 objects; using the Python parser", label)
        return None
    n = table.num_rows
    arrays = [pa.array(range(n), pa.int64())] + [table.column(i) for i in range(len(FIELDS))]
    arrays += [pa.nulls(n, pa.string()), pa.nulls(n, pa.string())]
    rows = pa.Table.from_arrays(arrays, schema=STAGED_SCHEMA)
    _check_required(rows, n, label)
    return ParsedPage(rows, payload, sha256, "json")


def _check_required(rows: pa.Table, n: int, label: str) -> None:
    if n:
        for name in REQUIRED:
            if rows.column(column_name(name)).null_count == n:
                raise DataFileError(f"{label}: missing required column '{name}'")


# --- the Python path ------------------------------------------------------------------------------


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
    except orjson.JSONDecodeError as err:
        if str(err).startswith(("depth limit", "recursion limit")):
            raise NestedTooDeep(f"{label}: {TOO_DEEP}") from None
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
    except RecursionError:
        raise NestedTooDeep(f"{label}: {TOO_DEEP}") from None
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
                except RecursionError:
                    raise NestedTooDeep(f"{label}: line {lineno}: {TOO_DEEP}") from None
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


# --- secrets --------------------------------------------------------------------------------------
# A server (or a file) may carry the API token, escaped (`\u0074…`, PHP's `\/`), URL-encoded, in
# base64... Both what is stored verbatim (raw_pages) and what is decoded from it (interactions,
# then reports and file names) are scrubbed with errors.secret_regexes in Arrow's RE2: linear time,
# and nothing at all to do when no secret is known (an `import` without WOLKVOX_TOKEN).

def scrub_payload(payload: bytes, patterns: tuple[str, ...] | None = None) -> bytes:
    """`payload` with every known secret, in any common encoding, replaced by '***'."""
    patterns = secret_regexes() if patterns is None else patterns
    if not patterns or not payload:
        return payload
    original = pa.py_buffer(payload)
    out = original
    for pattern in patterns:
        offsets = pa.array([0, out.size], pa.int64()).buffers()[1]
        # A zero-copy view as text (RE2 in UTF-8 mode; invalid bytes simply never match).
        text = pa.LargeStringArray.from_buffers(1, offsets, out)
        out = pc.replace_substring_regex(text, pattern, "***")[0].as_buffer()
    if out.size == len(payload) and out.equals(original):
        return payload  # nothing matched: keep the very bytes
    return out.to_pybytes()


def scrub_rows(rows: pa.Table, patterns: tuple[str, ...] | None = None) -> pa.Table:
    """The staged rows with every known secret replaced by '***' in every text column."""
    patterns = secret_regexes() if patterns is None else patterns
    if not patterns or not rows.num_rows:
        return rows
    for i, name in enumerate(rows.column_names):
        if name != "position":
            column = rows.column(i)
            for pattern in patterns:
                column = pc.replace_substring_regex(column, pattern, "***")
            rows = rows.set_column(i, name, column)
    return rows


def parse_payload(payload: bytes, label: str, fmt: str | None = None, *, compress: bool = True) -> ParsedPage:
    """Parse bytes as JSON (envelope, list, NDJSON) or CSV; `fmt` forces one, else guess from content.

    Known secrets are scrubbed first from the payload (what raw_pages keeps) and then from the
    decoded values. With `compress` (a payload about to be landed), the compression for raw_pages
    starts in a background thread now and overlaps the parse and the landing; `rebuild` passes False.
    """
    patterns = secret_regexes()
    if patterns:
        payload = scrub_payload(payload, patterns)
    if fmt is None:
        fmt = "json" if first_byte(payload) in (b"{", b"[") else "csv"
    compressor = _Compressor(payload).start() if compress else None
    page = parse_csv(payload, label) if fmt == "csv" else parse_json(payload, label)
    if patterns:
        page = dataclasses.replace(page, rows=scrub_rows(page.rows, patterns))
    return dataclasses.replace(page, compressor=compressor) if compressor is not None else page


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
