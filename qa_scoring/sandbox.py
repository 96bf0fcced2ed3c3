"""A local Wolkvox-compatible chat_4 server: the API's traps without credentials (demo and tests).

It serves data files (the bundled sample by default) as
`GET /api/v2/reports_manager.php?api=chat_4&date_ini=YYYYmmddHHiiss&date_end=YYYYmmddHHiiss` and
reproduces what wolkvox-api.md lists: the `wolkvox-token` header check (401 / 403 bodies), the
envelope with a string `code` on every other answer, 404 "Validate dates entered" for an empty
window, 400 for an unknown api / missing parameters / windows over 31 days, a silent row cap,
filtering on close_date (an open interaction, with no close date, on date_creation), a per-token
concurrency 403 when requests overlap, a daily quota, and switchable faults (`server.faults`).

Rows are indexed once at startup by their filter time (sorted numpy arrays of byte offsets), so a
window is a binary search plus one join of pre-serialised rows: NDJSON files are memory-mapped and
never parsed whole, which lets the benchmark serve millions of rows.

Sandbox choices where the real API is unknown: rows of a window are served in filter-time order and
truncated at the cap silently; a row whose dates cannot be parsed is filed at its predecessor's time
(so the client meets malformed rows too); `include_attachments`/`attach_array` are validated but do
not change the rows; a slow fault sleeps *before* the request counts as in flight.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import mmap
import re
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import numpy as np

from qa_scoring import resources
from qa_scoring.errors import DataFileError, RunTimeError

log = logging.getLogger(__name__)

API_PATH = "/api/v2/reports_manager.php"
DEFAULT_TOKEN = "sandbox-token"
_DATE = re.compile(rb"\s*(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")
_CLOSE = re.compile(rb'"close_date"\s*:\s*"([^"\\]*)"')
_CREATED = re.compile(rb'"date_creation"\s*:\s*"([^"\\]*)"')


def _key(raw: bytes | str | None) -> int | None:
    """A date string as a sortable integer YYYYmmddHHMMSS, or None when it is blank or invalid."""
    if not raw:
        return None
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "replace")
    m = _DATE.match(raw)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    if not (1 <= y and 1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60):
        return None
    return ((((y * 100 + mo) * 100 + d) * 100 + h) * 100 + mi) * 100 + s


def _api_key(text: str) -> int | None:
    """date_ini / date_end (YYYYmmddHHiiss) as a key, None when invalid."""
    try:
        return int(datetime.strptime(text, "%Y%m%d%H%M%S").strftime("%Y%m%d%H%M%S"))
    except ValueError:
        return None


class RowIndex:
    """Every row of the served files as a byte slice of a buffer, sorted by its filter time."""

    def __init__(self, files: list[Path], keep: Callable[[dict], bool] | None = None):
        self._keep = keep  # serve only the rows it accepts (the demo splits the sample by agent)
        self._buffers: list = []
        self._files: list = []
        keys: list[int] = []
        bufs: list[int] = []
        offs: list[int] = []
        lens: list[int] = []
        for path in files:
            for buf_id, off, length, key in self._load(Path(path)):
                keys.append(key)
                bufs.append(buf_id)
                offs.append(off)
                lens.append(length)
        order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
        self.keys = np.asarray(keys, dtype=np.int64)[order]
        self.bufs = np.asarray(bufs, dtype=np.int32)[order]
        self.offs = np.asarray(offs, dtype=np.int64)[order]
        self.lens = np.asarray(lens, dtype=np.int64)[order]

    def __len__(self) -> int:
        return len(self.keys)

    def close(self) -> None:
        for buf in self._buffers:
            if isinstance(buf, mmap.mmap):
                buf.close()
        for handle in self._files:
            handle.close()

    def select(self, ini: int, end: int) -> tuple[int, int]:
        """Positions [lo, hi) of the rows whose filter time is within [ini, end]."""
        return (int(np.searchsorted(self.keys, ini, "left")), int(np.searchsorted(self.keys, end, "right")))

    def rows(self, lo: int, hi: int) -> list[bytes]:
        buffers = self._buffers
        return [buffers[b][o:o + n] for b, o, n in
                zip(self.bufs[lo:hi].tolist(), self.offs[lo:hi].tolist(), self.lens[lo:hi].tolist())]

    # -- loading --------------------------------------------------------------------------------

    def _load(self, path: Path) -> Iterator[tuple[int, int, int, int]]:
        try:
            handle = path.open("rb")
        except OSError as err:
            raise DataFileError(f"{path}: {err.strerror or err}") from None
        if path.suffix.lower() == ".csv":
            with handle:
                text = handle.read().decode("utf-8-sig", "replace")
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
            yield from self._from_dicts(path, rows)
            return
        first = handle.readline(1 << 20).strip()
        ndjson = path.suffix.lower() in (".ndjson", ".jsonl")
        if not ndjson and first.startswith(b"{") and first.endswith(b"}"):
            try:
                ndjson = "data" not in json.loads(first)  # one whole row object on the first line
            except (ValueError, RecursionError):
                ndjson = False
        if ndjson:
            self._files.append(handle)
            yield from self._from_ndjson(path, handle)
            return
        with handle:
            handle.seek(0)
            try:
                doc = json.loads(handle.read().decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError) as err:
                raise DataFileError(f"{path}: not a JSON chat_4 file ({err})") from None
            except RecursionError:
                raise DataFileError(f"{path}: JSON nested too deeply") from None
        rows = doc.get("data") if isinstance(doc, dict) else doc
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, list):
            raise DataFileError(f"{path}: expected a chat_4 envelope or a list of rows")
        yield from self._from_dicts(path, rows)

    def _from_dicts(self, path: Path, rows: list) -> Iterator[tuple[int, int, int, int]]:
        if self._keep is not None:
            rows = [r for r in rows if isinstance(r, dict) and self._keep(r)]
        parts = [json.dumps(r, ensure_ascii=False).encode() for r in rows]
        buf_id = len(self._buffers)
        self._buffers.append(b"".join(parts))
        off = 0
        last = 0
        for row, part in zip(rows, parts):
            key = None
            if isinstance(row, dict):
                key = _key(row.get("close_date") if isinstance(row.get("close_date"), str) else None) or \
                    _key(row.get("date_creation") if isinstance(row.get("date_creation"), str) else None)
            last = key or last
            yield buf_id, off, len(part), last
            off += len(part)

    def _from_ndjson(self, path: Path, handle) -> Iterator[tuple[int, int, int, int]]:
        size = path.stat().st_size
        if size == 0:
            return
        mm = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        buf_id = len(self._buffers)
        self._buffers.append(mm)
        pos = 0
        last = 0
        find = mm.find
        while pos < size:
            nl = find(b"\n", pos)
            end = size if nl < 0 else nl
            stop = end - 1 if end > pos and mm[end - 1:end] == b"\r" else end
            if stop > pos:
                line = mm[pos:stop]
                if line.strip() and self._keep_line(path, pos, line):
                    key = None
                    m = _CLOSE.search(line)
                    if m:
                        key = _key(m.group(1))
                    if key is None:
                        m = _CREATED.search(line)
                        key = _key(m.group(1)) if m else None
                    if key is None and not m:  # escaped quotes or odd layout: parse this one row
                        try:
                            row = json.loads(line)
                        except (ValueError, RecursionError):
                            raise DataFileError(f"{path}: byte {pos}: not a JSON row") from None
                        if isinstance(row, dict):
                            key = _key(str(row.get("close_date") or "")) or _key(str(row.get("date_creation") or ""))
                    last = key or last
                    yield buf_id, pos, stop - pos, last
            pos = end + 1


    def _keep_line(self, path: Path, pos: int, line: bytes) -> bool:
        if self._keep is None:
            return True
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            raise DataFileError(f"{path}: byte {pos}: not a JSON row") from None
        return isinstance(row, dict) and self._keep(row)


# --- faults and statistics ----------------------------------------------------------------------

class _Fault(NamedTuple):
    kind: str  # fail | html | slow | hold | truncate | reset | busy | forbid
    status: int = 500
    seconds: float = 0.0
    msg: str = ""


class Faults:
    """Faults for the next calls, first in first out (one per call), switchable while serving."""

    def __init__(self) -> None:
        self._queue: deque[_Fault] = deque()
        self._lock = threading.Lock()

    def _push(self, n: int, fault: _Fault) -> Faults:
        with self._lock:
            self._queue.extend([fault] * n)
        return self

    def fail_next(self, n: int = 1, status: int = 500, msg: str = "", retry_after: float = 0) -> Faults:
        """Answer the next n calls with `status` and a JSON error envelope (`{token}` in msg is expanded),
        with a Retry-After header when `retry_after` is given."""
        return self._push(n, _Fault("fail", status, seconds=retry_after, msg=msg))

    def html_next(self, n: int = 1, status: int = 502) -> Faults:
        """Answer with an Apache-style HTML error page."""
        return self._push(n, _Fault("html", status))

    def slow_next(self, n: int = 1, seconds: float = 2.0) -> Faults:
        """Wait `seconds` before answering (past the client's read timeout)."""
        return self._push(n, _Fault("slow", seconds=seconds))

    def hold_next(self, n: int = 1, seconds: float = 0.5) -> Faults:
        """Answer normally but only after `seconds` counted as in flight (to provoke overlaps)."""
        return self._push(n, _Fault("hold", seconds=seconds))

    def truncate_next(self, n: int = 1) -> Faults:
        """Answer 200 with the JSON body cut in half."""
        return self._push(n, _Fault("truncate"))

    def reset_next(self, n: int = 1) -> Faults:
        """Reset the TCP connection without answering."""
        return self._push(n, _Fault("reset"))

    def busy_next(self, n: int = 1) -> Faults:
        """Answer 403 'EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN'."""
        return self._push(n, _Fault("busy", 403))

    def forbid_next(self, n: int = 1, msg: str = "API CONSUMPTION TEMPORARILY DISABLED") -> Faults:
        """Answer 403 with another message (maintenance, backups; `{token}` is expanded)."""
        return self._push(n, _Fault("forbid", 403, msg=msg))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def pop(self) -> _Fault | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None


class Request(NamedTuple):
    date_ini: str
    date_end: str
    status: int
    rows: int
    fault: str


@dataclass
class SandboxStats:
    """What the sandbox saw: calls, statuses, rows served, and the most requests in flight per token."""

    calls: int = 0
    rows_served: int = 0
    by_status: Counter = field(default_factory=Counter)
    in_flight: Counter = field(default_factory=Counter)
    max_in_flight_by_token: Counter = field(default_factory=Counter)
    requests: list[Request] = field(default_factory=list)

    @property
    def max_in_flight(self) -> int:
        return max(self.max_in_flight_by_token.values(), default=0)


# --- the server ---------------------------------------------------------------------------------

_HTML_PAGE = (b"<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>%d Error</title>\n"
              b"</head><body>\n<h1>%d Error</h1>\n<p>The server encountered an internal error or\n"
              b"misconfiguration and was unable to complete your request.</p>\n<hr>\n"
              b"<address>Apache/2.4.41 (Ubuntu) Server</address>\n</body></html>\n")
_ERRORS = {400: "BAD REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT FOUND",
           500: "INTERNAL SERVER ERROR", 502: "BAD GATEWAY", 503: "SERVICE UNAVAILABLE", 504: "GATEWAY TIMEOUT"}


class _Handler(BaseHTTPRequestHandler):
    server_version = "Apache/2.4.41"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 — http.server naming
        try:
            self.server.sandbox._handle(self)  # type: ignore[attr-defined]
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            log.debug("client went away")  # a client that timed out

    def log_message(self, format: str, *args) -> None:  # noqa: A002 — http.server signature
        log.debug("sandbox: " + format, *args)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class SandboxServer:
    """The sandbox: start it with `start_sandbox` (or `with SandboxServer(...) as server:`)."""

    def __init__(self, files: list[Path] | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 token: str = DEFAULT_TOKEN, row_cap: int = 60000, daily_quota: int = 1000,
                 concurrency: int = 1, max_window_days: int = 31, keep: Callable[[dict], bool] | None = None):
        self.files = [Path(f) for f in files] if files else resources.sample_files()
        started = time.perf_counter()
        self.index = RowIndex(self.files, keep)
        self.index_seconds = time.perf_counter() - started
        self.token = token
        self.row_cap = row_cap
        self.daily_quota = daily_quota
        self.concurrency = concurrency
        self.max_window_days = max_window_days
        self.faults = Faults()
        self.stats = SandboxStats()
        self._lock = threading.Lock()
        self._quota_used: Counter = Counter()
        self._thread: threading.Thread | None = None
        server_class = _HTTPServer6 if ":" in host else _HTTPServer
        try:
            self.httpd = server_class((host, port), _Handler)
        except OSError as err:
            self.index.close()
            raise RunTimeError(f"sandbox: cannot listen on {host}:{port}: {err.strerror or err}") from None
        self.httpd.sandbox = self  # type: ignore[attr-defined]
        self.host = host
        self.port = self.httpd.server_address[1]

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="wolkvox-sandbox", daemon=True)
        self._thread.start()
        log.info("sandbox serving %d rows from %d file(s) at %s", len(self.index), len(self.files),
                 self.base_url)
        return self

    def wait(self) -> None:
        """Block until the server stops (KeyboardInterrupt passes through)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def shutdown(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread = None
        self.httpd.server_close()
        self.index.close()

    def reset_quota(self) -> None:
        with self._lock:
            self._quota_used.clear()

    def __enter__(self) -> SandboxServer:
        return self if self._thread else self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # -- one request ------------------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        url = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        ini, end = query.get("date_ini", ""), query.get("date_end", "")
        token = handler.headers.get("wolkvox-token")
        with self._lock:
            self.stats.calls += 1
            call = self.stats.calls
        released = [True]

        def release() -> None:
            if not released[0]:
                released[0] = True
                with self._lock:
                    self.stats.in_flight[token] -= 1

        def send(status: int, body: bytes, rows: int = 0, kind: str = "", ctype: str = "application/json",
                 retry_after: float = 0) -> None:
            handler.send_response(status)
            if retry_after:
                handler.send_header("Retry-After", str(int(retry_after)))
            handler.send_header("Content-Type", f"{ctype}; charset=utf-8")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            # Record before the client can have the answer: a test reading the stats right after
            # its response must see this request (it raced under load when recorded after).
            with self._lock:
                self.stats.by_status[status] += 1
                self.stats.rows_served += rows
                self.stats.requests.append(Request(ini, end, status, rows, kind))
            view = memoryview(body)
            cut = max(len(body) - 64, 0)
            # Free the token's slot before the last bytes: once the client holds the whole answer the
            # request is over, and a next request must not be counted as overlapping this one.
            handler.wfile.write(view[:cut])
            release()
            handler.wfile.write(view[cut:])
            log.info("sandbox: chat_4 %s-%s -> %d, %d rows%s", ini, end, status, rows, f" ({kind})" if kind else "")

        def error(status: int, msg: str, kind: str = "", retry_after: float = 0) -> None:
            code: int | str = status if call % 2 else str(status)
            body = {"code": code, "error": _ERRORS.get(status, "ERROR"), "msg": msg, "data": None}
            send(status, json.dumps(body).encode(), kind=kind, retry_after=retry_after)

        if url.path != API_PATH:
            send(404, _HTML_PAGE.replace(b"%d Error", b"404 Not Found"), kind="path", ctype="text/html")
            return
        if not token or not token.strip():
            error(401, "PLEASE ENTER THE WOLKVOX-TOKEN")
            return
        if token != self.token:
            error(403, "PLEASE VALIDATE TOKEN")
            return
        with self._lock:
            self._quota_used[(token, date.today())] += 1
            over_quota = self._quota_used[(token, date.today())] > self.daily_quota
        if over_quota:
            error(403, "TOKEN LIMIT EXCEEDED")
            return
        fault = self.faults.pop()
        if fault and fault.kind == "slow":
            self._pause(fault.seconds)
        with self._lock:
            self.stats.in_flight[token] += 1
            now_in_flight = self.stats.in_flight[token]
            self.stats.max_in_flight_by_token[token] = max(self.stats.max_in_flight_by_token[token], now_in_flight)
        released[0] = False
        try:
            if fault and fault.kind == "hold":
                self._pause(fault.seconds)
            if now_in_flight > self.concurrency or (fault and fault.kind == "busy"):
                error(403, f"EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN ({self.concurrency})",
                      kind="busy" if fault and fault.kind == "busy" else "overlap")
            elif fault and fault.kind in ("fail", "forbid"):
                error(fault.status, fault.msg.replace("{token}", token), kind=fault.kind, retry_after=fault.seconds)
            elif fault and fault.kind == "html":
                page = _HTML_PAGE.replace(b"%d", str(fault.status).encode())
                send(fault.status, page, kind="html", ctype="text/html")
            elif fault and fault.kind == "reset":
                with self._lock:
                    self.stats.requests.append(Request(ini, end, 0, 0, "reset"))
                release()
                handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                handler.connection.close()
                handler.close_connection = True
            else:
                self._answer(query, call, send, error, truncate=bool(fault and fault.kind == "truncate"))
        finally:
            release()

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self._thread is not None:
            time.sleep(0.01)

    def _answer(self, query: dict[str, str], call: int, send, error, truncate: bool) -> None:
        api = query.get("api")
        if not api or "date_ini" not in query or "date_end" not in query:
            error(400, "SOME PARAMETERS ARE REQUIRED")
            return
        if api != "chat_4":
            error(400, "THE API YOU WANT TO CONSULT DOES NOT EXIST")
            return
        if query.get("include_attachments", "false") not in ("true", "false") or \
                query.get("attach_array", "no") not in ("yes", "no"):
            error(400, "SOME PARAMETERS ARE REQUIRED")
            return
        ini, end = _api_key(query["date_ini"]), _api_key(query["date_end"])
        if ini is None or end is None or end < ini:
            error(404, "Validate dates entered")
            return
        span = datetime.strptime(str(end), "%Y%m%d%H%M%S") - datetime.strptime(str(ini), "%Y%m%d%H%M%S")
        if span.total_seconds() >= self.max_window_days * 86400:
            error(400, f"THE MAXIMUM RANGE OF DAYS TO CONSULT IS {self.max_window_days}")
            return
        lo, hi = self.index.select(ini, end)
        if hi <= lo:
            error(404, "Validate dates entered")
            return
        n = min(hi - lo, self.row_cap)  # the API's silent truncation
        code = "200" if call % 2 == 0 else 200
        err = (None, "", "null")[call % 3]
        msg = f"{n} records were found" if call % 2 else f"Se encontraron {n} registros"
        head = f'{{"code": {json.dumps(code)}, "error": {json.dumps(err)}, "msg": {json.dumps(msg)}, "data": [\n'
        body = head.encode() + b",\n".join(self.index.rows(lo, lo + n)) + b"\n]}"
        if truncate:
            send(200, body[:len(body) // 2], rows=n, kind="truncate")
        else:
            send(200, body, rows=n)


def start_sandbox(files: list[Path] | None = None, *, host: str = "127.0.0.1", port: int = 0,
                  token: str = DEFAULT_TOKEN, row_cap: int = 60000, daily_quota: int = 1000,
                  concurrency: int = 1, max_window_days: int = 31, keep: Callable[[dict], bool] | None = None,
                  **faults: int) -> SandboxServer:
    """Start a sandbox in a background thread; `faults` queue initial faults, e.g. `fail_next=2`;
    `keep(row)` chooses the rows it serves (one operation's share of the files)."""
    server = SandboxServer(files, host=host, port=port, token=token, row_cap=row_cap, daily_quota=daily_quota,
                           concurrency=concurrency, max_window_days=max_window_days, keep=keep)
    for name, n in faults.items():
        method = getattr(server.faults, name, None)
        if not callable(method) or name.startswith("_") or name in ("pop", "clear", "pending"):
            server.shutdown()
            raise TypeError(f"unknown sandbox fault {name!r}")
        method(n)
    return server.start()
