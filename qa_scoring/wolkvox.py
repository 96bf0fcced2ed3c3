"""The `fetch` stage: the Wolkvox chat_4 report API → raw_pages + interactions, window by window.

What the API does and why this module is shaped the way it is: see wolkvox-api.md in the project
notes and the README. In short:

* Windows are naive local wall-clock time of the operation (`settings.wolkvox.timezone`), inclusive
  to the second, never overlapping, at most 31 days, sized from the row density seen so far so each
  one stays well under the silent row cap. A response with >= row_cap - truncation_margin rows may be
  truncated: it is thrown away and the window is split in halves, down to `min_window_seconds`.
* Every call spends quota, so retries are bounded: at most `max_attempts` HTTP calls per window
  (urllib3's transport retries included). 403 means five different things: we classify on its text.
* One request in flight per token, across processes: a `filelock` lock file named by a hash of the
  token (never the token), taken before any HTTP call, plus a minimum interval between calls whose
  last-call time is persisted next to the lock file.
* Each window lands in one transaction together with the watermark: killing the process at any point
  and running again gives the same interactions as one clean run.
* The token travels only in the `wolkvox-token` header; every message is passed through
  `errors.scrub_secrets` and a payload that somehow echoes it is scrubbed before it is stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
import weakref
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import filelock
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import DecodeError, HTTPError, MaxRetryError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry

from qa_scoring import parse, store
from qa_scoring.config import Operation, Settings, WolkvoxSettings
from qa_scoring.errors import (APIError, AuthError, DataFileError, InputError, LockedError, QAError, QuotaError,
                               MAX_SECRET, known_secrets, one_line, register_secret, scrub_secrets)

log = logging.getLogger(__name__)

REPORT = "chat_4"
API_PATH = "/api/v2/reports_manager.php"
API_TIME = "%Y%m%d%H%M%S"
SECOND = timedelta(seconds=1)
FILL = 0.75  # size windows to be 3/4 full at the densest rate seen lately: "well under the row cap"
MB = 1 << 20
READ_CHUNK = 1 << 20  # decoded bytes per read of a body (urllib3 >= 2.6 bounds the decompression too)
DEFAULT_BACKFILL_DAYS = 30


# --- token and times --------------------------------------------------------------------------

def _read_token_file(path: Path, where: str) -> str:
    """The token in `path`, read no further than a token can be long."""
    try:
        with path.open("rb") as handle:
            data = handle.read(4 * MAX_SECRET + 1)
        token = data.decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not UTF-8 text"
        raise AuthError(f"{where} {path}: {reason}") from None
    if len(data) > 4 * MAX_SECRET or len(token) > MAX_SECRET:
        raise AuthError(f"{where} {path}: longer than {MAX_SECRET} characters, not an API token")
    return token


def _check_token(token: str, where: str) -> None:
    if len(token) > MAX_SECRET:
        raise AuthError(f"{where} is longer than {MAX_SECRET} characters, not an API token")
    if not re.fullmatch(r"[\x21-\x7e]+", token):
        raise AuthError(f"{where} is malformed (spaces or non-ASCII characters)")


def read_token(environ=os.environ, operation: Operation | None = None) -> str:
    """The API token from WOLKVOX_TOKEN (or the file named by WOLKVOX_TOKEN_FILE), registered as a secret;
    for a configured operation, from its `token_env` variable or its `token_file`."""
    if operation is not None and not operation.legacy:
        return _operation_token(environ, operation)
    token = (environ.get("WOLKVOX_TOKEN") or "").strip()
    if not token and environ.get("WOLKVOX_TOKEN_FILE"):
        path = Path(environ["WOLKVOX_TOKEN_FILE"])
        token = _read_token_file(path, "WOLKVOX_TOKEN_FILE")
        register_secret(token)
        if not token:
            raise AuthError(f"WOLKVOX_TOKEN_FILE {path} is empty")
    if not token:
        raise AuthError("WOLKVOX_TOKEN is not set (try 'qa-scoring demo' for a dry run)")
    register_secret(token)
    _check_token(token, "WOLKVOX_TOKEN")
    return token


def _operation_token(environ, op: Operation) -> str:
    # Messages name the setting; the caller (fetch_operations) names the operation.
    if op.token_file:
        path = Path(op.token_file)
        token = _read_token_file(path, f"operations.{op.name}.token_file")
        register_secret(token)
        if not token:
            raise AuthError(f"operations.{op.name}.token_file {path} is empty")
    else:
        token = (environ.get(op.token_env) or "").strip()
        register_secret(token)
        if not token:
            raise AuthError(f"{op.token_env} is not set (operations.{op.name}.token_env)")
    _check_token(token, f"the token of operations.{op.name}")
    return token


_TIME_FORMATS = (("%Y-%m-%d %H:%M:%S", False), ("%Y-%m-%dT%H:%M:%S", False), ("%Y%m%d%H%M%S", False),
                 ("%Y-%m-%d", True))


def parse_time(text: str, option: str = "--since", *, end_of_day: bool = False) -> datetime:
    """Parse `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` or `YYYYmmddHHiiss` (naive local time).

    With `end_of_day`, a bare date means the last second of that day (for an inclusive `--until`).
    """
    value = str(text).strip()
    for fmt, date_only in _TIME_FORMATS:
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        if date_only and end_of_day:
            parsed = parsed.replace(hour=23, minute=59, second=59)
        return parsed
    raise InputError(f"{option}: invalid time {value!r} (use YYYY-MM-DD, 'YYYY-MM-DD HH:MM:SS' or YYYYmmddHHiiss)")


def local_now(tz: str) -> datetime:
    """Now as naive wall-clock time of the operation's zone, to the second (what the API speaks)."""
    return datetime.now(zoneinfo.ZoneInfo(tz)).replace(tzinfo=None, microsecond=0)


def base_url(settings: WolkvoxSettings) -> str:
    """WOLKVOX_BASE_URL / settings.base_url, else https://wv{server}.wolkvox.com."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    if not settings.server:
        raise InputError("WOLKVOX_SERVER is not set (the number in https://wv<server>.wolkvox.com; "
                         "or set WOLKVOX_BASE_URL)")
    return f"https://wv{settings.server}.wolkvox.com"


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _window_text(start: datetime, end: datetime) -> str:
    return f"window {_fmt(start)} – {_fmt(end)}"


# --- clock and token discipline ---------------------------------------------------------------

class Clock:
    """Wall time and sleeping, injectable so tests never really sleep."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class TokenGate:
    """One request in flight per token across processes, and a minimum interval between calls.

    The lock file and the last-call file are named by a hash of the token, never the token.
    """

    def __init__(self, token: str, lock_dir: str, min_interval: float, clock: Clock, wait_timeout: float):
        key = hashlib.sha256(("qa-scoring\x1f" + token).encode()).hexdigest()[:20]
        folder = Path(lock_dir) if lock_dir else Path(tempfile.gettempdir())
        self.lock_path = folder / f"qa-scoring-wolkvox-{key}.lock"
        self.last_path = folder / f"qa-scoring-wolkvox-{key}.last"
        self.min_interval = min_interval
        self.clock = clock
        self.wait_timeout = wait_timeout
        self._lock = filelock.FileLock(str(self.lock_path), timeout=wait_timeout)

    def _last_call(self) -> float:
        try:
            return float(self.last_path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0.0

    def _record_call(self) -> None:
        tmp = self.last_path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(repr(self.clock.time()))
        os.replace(tmp, self.last_path)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the token: wait for the lock, then for the minimum interval since the last call."""
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise LockedError(f"another qa-scoring process kept the Wolkvox token busy for "
                              f"{self.wait_timeout:.0f} s (lock {self.lock_path})") from None
        try:
            wait = self._last_call() + self.min_interval - self.clock.time()
            if wait > 0:
                log.info("pacing: waiting %.0f s before the next call (min interval %.0f s)",
                         wait, self.min_interval)
                self.clock.sleep(wait)
            try:
                yield
            finally:
                self._record_call()
        finally:
            self._lock.release()


class _Deadline:
    """A whole-call deadline (wolkvox.call_deadline) for the HTTP calls of one client.

    urllib3's timeouts bound each socket read, not a call: a server sending a byte a second holds a
    call (and the token lock) as long as it likes. The first use of a connection in a call starts a
    timer; when it fires, the sockets of the call are shut down, which wakes any blocked read (in
    the headers or the body alike), and `expired` tells why the call ended.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._connections: weakref.WeakSet = weakref.WeakSet()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def watch(self, connection) -> None:
        """Called by the connection on connect and on each request: arm the timer once per call."""
        with self._lock:
            self._connections.add(connection)
            if self._timer is None:
                self.expired = False
                self._timer = threading.Timer(self.seconds, self._expire)
                self._timer.daemon = True
                self._timer.start()
            expired = self.expired
        if expired:  # the deadline passed while the connection was being opened
            self._shut(connection)

    def reset(self) -> None:
        """The call is over (or urllib3 is about to retry it): the next use arms a new timer."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            self._shut(connection)

    @staticmethod
    def _shut(connection) -> None:
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _watched(base: type, deadline: _Deadline) -> type:
    """A urllib3 connection class that reports to `deadline` when it connects and sends."""

    class _Connection(base):  # type: ignore[misc, valid-type]
        def connect(self) -> None:
            deadline.watch(self)
            super().connect()
            deadline.watch(self)

        def request(self, *args, **kwargs):
            deadline.watch(self)
            return super().request(*args, **kwargs)

    return _Connection


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose urllib3 pools use connections watched by a `_Deadline`."""

    def __init__(self, deadline: _Deadline, **kwargs):
        self.deadline = deadline
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("_Pool", (HTTPConnectionPool,), {"ConnectionCls": _watched(HTTPConnection, self.deadline)}),
            "https": type("_Pool", (HTTPSConnectionPool,),
                          {"ConnectionCls": _watched(HTTPSConnection, self.deadline)}),
        }


class _CountingRetry(Retry):
    """urllib3 Retry that sleeps on the injected clock, counts the extra HTTP calls it makes and
    makes none once the call's deadline has passed."""

    clock: Clock = Clock()
    counter: list[int] = [0]
    deadline: _Deadline | None = None

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if self.deadline is not None and self.deadline.expired:
            raise MaxRetryError(_pool, url, error or ResponseError("call deadline passed"))
        new = super().increment(method, url, response, error, _pool, _stacktrace)  # raises when exhausted
        self.counter[0] += 1
        return new

    def sleep(self, response=None) -> None:
        if self.deadline is not None:
            self.deadline.reset()  # each HTTP request gets the whole deadline
        wait = None
        if self.respect_retry_after_header and response is not None:
            wait = self.get_retry_after(response)
        if wait is None:
            wait = self.get_backoff_time()
        self.clock.sleep(min(wait, self.backoff_max))


# --- one call ---------------------------------------------------------------------------------

class _Outcome:
    OK = "ok"
    EMPTY = "empty"  # 404 "Validate dates entered": no rows in the window
    BROKEN = "broken"  # truncated / invalid JSON: retry, then split
    TIMEOUT = "timeout"  # read timeout after the transport retries: split
    SERVER = "server"  # 5xx, connection errors, an HTML page: retry, then fail
    BUSY = "busy"  # 403 simultaneous requests: wait and retry
    MAINTENANCE = "maintenance"  # 403 anything else: long backoff, then fail


@dataclass
class _Reply:
    outcome: str
    detail: str = ""  # one line for logs and errors (never the token)
    page: parse.ParsedPage | None = None
    rows: int = 0


_QUOTA = re.compile(r"token\s+limit|limit\s+exceeded|quota|cuota|l[ií]mite\s+de\s+consumo", re.I)
_BUSY = re.compile(r"simultaneous|simult[aá]ne|concurren", re.I)
_BAD_TOKEN = re.compile(r"validate\s+token|valide\s+el\s+token|invalid|inv[aá]lid|expired|expirad|malformed|token",
                        re.I)
_EMPTY = re.compile(r"validate\s+dates|valide\s+las\s+fechas|no\s+records|no\s+se\s+encontraron|sin\s+registros|"
                    r"\b0\s+records", re.I)


def server_text(text: str, limit: int = 300) -> str:
    """Text a server sent, made safe for a log line or an error: one line (no control characters
    that could forge a line), no secret in any encoding, at most `limit` characters."""
    text = scrub_secrets(one_line(text))
    return text[:limit] + ("…" if len(text) > limit else "")


def _snippet(body: bytes, limit: int = 160) -> str:
    """The first bytes of a body as one safe printable line, for logs and errors."""
    # Scrub before cutting: a secret straddling the cut would leave its first half behind.
    margin = 16 * max(map(len, known_secrets()), default=0)
    text = body[:limit * 2 + margin].decode("utf-8", "replace")
    text = re.sub(r"<[^>]*>", " ", text) if text.lstrip().startswith("<") else text
    return server_text(text, limit)


def _envelope_text(body: bytes) -> tuple[str | None, str]:
    """(code, 'error / msg') of a small JSON error body, or (None, first bytes) when it is not JSON."""
    if len(body) > 1_000_000:
        return None, _snippet(body)
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, _snippet(body)
    if not isinstance(doc, dict):
        return None, _snippet(body)
    parts = [server_text(str(doc.get(k))) for k in ("error", "msg", "message")
             if doc.get(k) not in (None, "", "null")]
    code = doc.get("code")
    return (None if code is None else server_text(str(code), 40)), " / ".join(parts) or _snippet(body)


class WolkvoxClient:
    """chat_4 calls for one token: retries, classification, token lock and pacing."""

    def __init__(self, settings: WolkvoxSettings, token: str, *, min_interval: float | None = None,
                 clock: Clock | None = None):
        self.settings = settings
        self.clock = clock or Clock()
        self.base = base_url(settings)
        self.url = self.base + API_PATH
        interval = settings.min_interval if min_interval is None else min_interval
        # Waiting for another process's turn: its whole window (all attempts) plus pacing.
        wait = interval + settings.max_attempts * settings.call_deadline + 60
        self.gate = TokenGate(token, settings.lock_dir, interval, self.clock, wait)
        self.session = requests.Session()
        self.session.headers.update({"wolkvox-token": token, "Accept": "application/json",
                                     "User-Agent": "qa-scoring"})
        if settings.server:
            self.session.headers["wolkvox_server"] = settings.server
        self.deadline = _Deadline(settings.call_deadline)
        self._retry_class = type("_ClientRetry", (_CountingRetry,),
                                 {"clock": self.clock, "counter": [0], "deadline": self.deadline})
        self.adapter = _DeadlineAdapter(self.deadline, max_retries=self._retry(1))
        self.session.mount("http://", self.adapter)
        self.session.mount("https://", self.adapter)
        self.calls = 0  # every HTTP request sent (each one spends quota)

    def close(self) -> None:
        self.session.close()

    def _retry(self, attempts: int) -> Retry:
        n = max(attempts - 1, 0)
        return self._retry_class(
            total=n, connect=n, read=n, status=n, other=0, redirect=0,
            status_forcelist=(500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
            backoff_factor=self.settings.retry_backoff, backoff_jitter=self.settings.retry_backoff,
            backoff_max=120, respect_retry_after_header=True, raise_on_status=False)

    def params(self, start: datetime, end: datetime) -> dict[str, str]:
        return {"api": REPORT, "date_ini": start.strftime(API_TIME), "date_end": end.strftime(API_TIME),
                "include_attachments": "true" if self.settings.include_attachments else "false",
                "attach_array": self.settings.attach_array}

    def source(self, start: datetime, end: datetime) -> str:
        """What raw_pages.source records for a window: the request without the token."""
        query = "&".join(f"{k}={v}" for k, v in self.params(start, end).items())
        return scrub_secrets(f"{self.url}?{query}")

    def _send(self, start: datetime, end: datetime, attempts: int) -> tuple[int, bytes] | _Reply:
        """One logical call (urllib3 may retry it up to `attempts` HTTP requests in all)."""
        self.adapter.max_retries = self._retry(attempts)
        counter = self._retry_class.counter
        before = counter[0]
        try:
            with self.gate.turn():
                response = None
                try:
                    response = self.session.get(
                        self.url, params=self.params(start, end), allow_redirects=False, stream=True,
                        timeout=(self.settings.connect_timeout, self.settings.read_timeout))
                    body = self._read_body(response, start, end)  # holding the token: still in flight
                    if self.deadline.expired:  # a body "ended" by the shutdown is not the whole body
                        return self._late()
                    return response.status_code, body
                except (requests.exceptions.RequestException, HTTPError, OSError) as err:
                    return self._late() if self.deadline.expired else self._transport_failure(err)
                finally:
                    self.deadline.reset()
                    if response is not None:
                        response.close()  # an unread rest is not downloaded: the connection is dropped
                    self.calls += 1 + counter[0] - before
        except OSError as err:  # lock folder missing or unwritable
            raise LockedError(f"cannot take the Wolkvox token lock in {self.gate.lock_path.parent}: "
                              f"{getattr(err, 'strerror', None) or err}") from None

    def _read_body(self, response: requests.Response, start: datetime, end: datetime) -> bytes:
        """The decoded body, streamed; a body over wolkvox.max_body_mb (as sent or once decompressed)
        stops the fetch at once: retrying or splitting would download it again."""
        cap = self.settings.max_body_mb * MB
        encoding = server_text(response.headers.get("Content-Encoding", ""), 40)

        def too_large(what: str) -> APIError:
            return APIError(f"Wolkvox API {_window_text(start, end)}: response body {what}{' ' if what else ''}"
                            f"over {self.settings.max_body_mb} MB (wolkvox.max_body_mb); stopped without retrying")

        length = response.headers.get("Content-Length", "").strip()
        if length.isdigit() and int(length) > cap:
            raise too_large(f"announced at {int(length) / MB:,.0f} MB,")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.raw.stream(READ_CHUNK, decode_content=True):
            size += len(chunk)
            if size > cap:
                raise too_large(f"once decompressed ({encoding})" if encoding and encoding != "identity" else "")
            chunks.append(chunk)
        return b"".join(chunks)

    def _late(self) -> _Reply:
        return _Reply(_Outcome.TIMEOUT, f"no complete answer within {self.settings.call_deadline:g} s "
                                        f"(wolkvox.call_deadline)")

    @staticmethod
    def _transport_failure(err: Exception) -> _Reply:
        reason = err.args[0] if err.args else None
        reason = getattr(reason, "reason", reason)
        if isinstance(err, (requests.exceptions.ReadTimeout, ReadTimeoutError)) or isinstance(reason, ReadTimeoutError):
            return _Reply(_Outcome.TIMEOUT, "read timed out")
        if isinstance(err, (DecodeError, requests.exceptions.ContentDecodingError)):
            return _Reply(_Outcome.BROKEN, "body cannot be decoded (Content-Encoding)")
        if isinstance(err, (requests.exceptions.ChunkedEncodingError, HTTPError)):
            return _Reply(_Outcome.BROKEN, f"body cut short ({type(err).__name__})")
        text = str(reason or err)
        text = re.sub(r"<urllib3[^>]*>", "", text)
        return _Reply(_Outcome.SERVER, f"connection failed ({server_text(text, 200)})")

    def classify(self, status: int, body: bytes, start: datetime, end: datetime) -> _Reply:
        """Turn an HTTP status and body into an outcome; raise for the failures that must stop the run."""
        where = _window_text(start, end)
        if status == 200:
            try:  # (parse_payload scrubs any secret the server echoed from the page and its values)
                page = parse.parse_payload(body, f"chat_4 {where}", "json")
                return _Reply(_Outcome.OK, page=page, rows=page.rows.num_rows)
            except DataFileError as err:
                problem = str(err).split(": ", 1)[-1]
                if isinstance(err, parse.NestedTooDeep):  # complete and unusable: retrying cannot help
                    raise APIError(f"Wolkvox API {where}: {problem}") from None
                code, text = _envelope_text(body)
                if code is None:  # not JSON: cut short, or an HTML error page
                    outcome = _Outcome.SERVER if parse.first_byte(body) == b"<" else _Outcome.BROKEN
                    return _Reply(outcome, f"unusable body ({problem}): {_snippet(body, 80)}")
                if code == "200":  # a complete JSON answer of the wrong shape: retrying cannot help
                    raise APIError(scrub_secrets(f"Wolkvox API {where}: {problem}"))
                try:
                    status = int(code)  # the envelope's own code (e.g. 404 inside a 200)
                except ValueError:
                    return _Reply(_Outcome.BROKEN, f"envelope code {code!r}: {text}")
        code, text = _envelope_text(body)
        line = f"HTTP {status}: {text}"
        if status == 404:
            if _EMPTY.search(text):
                return _Reply(_Outcome.EMPTY, text)
            raise APIError(f"Wolkvox API {where}: {line} (is the base URL {self.base} right?)")
        if status == 401:
            raise AuthError(f"Wolkvox refused the request ({line}); check WOLKVOX_TOKEN")
        if status == 403:
            if _BUSY.search(text):
                return _Reply(_Outcome.BUSY, line)
            if _QUOTA.search(text):
                raise QuotaError(f"Wolkvox daily call quota is spent ({line}); stopped at {where}, "
                                 f"the next run resumes from there")
            if _BAD_TOKEN.search(text):
                raise AuthError(f"Wolkvox rejected the token ({line}); check WOLKVOX_TOKEN")
            return _Reply(_Outcome.MAINTENANCE, line)
        if status == 400:
            raise APIError(f"Wolkvox API refused the request for {where}: {line}")
        if status >= 500 or status == 200:
            return _Reply(_Outcome.SERVER, line)
        raise APIError(f"Wolkvox API {where}: unexpected {line}")

    def fetch_window(self, start: datetime, end: datetime) -> _Reply:
        """Fetch one window with bounded retries. Returns OK, EMPTY, or BROKEN/TIMEOUT (caller splits)."""
        where = _window_text(start, end)
        budget = self.settings.max_attempts
        busy = maintenance = 0
        last: _Reply | None = None
        while budget > 0:
            before = self.calls
            # Transport retries (connection, timeouts, 5xx) are urllib3's; for anything classified
            # below, one HTTP call per loop turn so waits follow our own rules.
            sent = self._send(start, end, budget)
            budget -= self.calls - before
            reply = sent if isinstance(sent, _Reply) else self.classify(sent[0], sent[1], start, end)
            if reply.outcome in (_Outcome.OK, _Outcome.EMPTY, _Outcome.TIMEOUT):
                return reply
            last = reply
            log.warning("chat_4 %s: %s (%d of %d calls left)", where, scrub_secrets(reply.detail), budget,
                        self.settings.max_attempts)
            if budget <= 0:
                break
            if reply.outcome == _Outcome.BUSY:
                busy += 1
                self.clock.sleep(self.settings.retry_backoff * 2 ** busy)
            elif reply.outcome == _Outcome.MAINTENANCE:
                self.clock.sleep(self.settings.maintenance_wait * 2 ** maintenance)
                maintenance += 1
            else:  # BROKEN, or SERVER with budget left (a 200 HTML page: urllib3 did not retry it)
                self.clock.sleep(self.settings.retry_backoff)
        assert last is not None
        if last.outcome == _Outcome.BROKEN:
            return last
        what = {"busy": "the token stayed busy (simultaneous requests)",
                "maintenance": "API consumption stayed disabled"}.get(last.outcome, "the API kept failing")
        raise APIError(scrub_secrets(f"Wolkvox API {where}: {what} after {self.settings.max_attempts} "
                                     f"calls; last: {last.detail}"))


# --- the fetch stage --------------------------------------------------------------------------

@dataclass(frozen=True)
class FetchSummary:
    """What one fetch did."""

    since: str
    until: str
    windows: int = 0  # windows landed (after splitting)
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    calls: int = 0  # HTTP requests sent (each spends quota), retries included
    splits: int = 0  # windows split because they were possibly truncated or kept failing
    empty: int = 0  # windows with no rows (404 "Validate dates entered")
    seconds: float = 0.0
    watermark: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        return (f"windows {self.windows}, rows {self.rows:,} (new {self.new:,}, updated {self.updated:,}), "
                f"quarantined {self.quarantined:,}, {self.seconds:.0f} s")


@dataclass
class _Totals:
    windows: int = 0
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    splits: int = 0
    empty: int = 0
    densities: list[float] = field(default_factory=list)  # rows per second of landed windows


def fetch_range(con: duckdb.DuckDBPyConnection, settings: WolkvoxSettings, operation: str,
                since: datetime | None, until: datetime | None, now: datetime) -> tuple[datetime, datetime, bool]:
    """(start, end, contiguous): the range to fetch and whether it may advance the watermark."""
    watermark = store.get_watermark(con, operation, REPORT)
    end = min(until, now) if until else now
    if since is None:
        if watermark is not None:
            start = watermark + SECOND - timedelta(days=settings.lookback_days)
        elif settings.backfill_start:
            start = parse_time(settings.backfill_start, "wolkvox.backfill_start")
        else:
            start = (now - timedelta(days=DEFAULT_BACKFILL_DAYS)).replace(hour=0, minute=0, second=0)
    else:
        start = since
        if until is not None and since > until:
            raise InputError(f"--since {_fmt(since)} is after --until {_fmt(until)}")
        if since > now:
            raise InputError(f"--since {_fmt(since)} is in the future (now is {_fmt(now)} {settings.timezone})")
    # An explicit range only moves the watermark when it continues it (no gap left behind).
    contiguous = watermark is None or start <= watermark + SECOND
    return start, end, contiguous


def _prior_density(con: duckdb.DuckDBPyConnection, operation: str, start: datetime) -> float:
    """Rows per second at the busiest hour of the two weeks before `start` already stored (0 if none)."""
    row = store.fetch_one(con, """
        SELECT max(c) FROM (
            SELECT count(*) AS c FROM interactions
            WHERE operation = ? AND coalesce(closed_at, created_at) BETWEEN ? AND ?
            GROUP BY date_trunc('hour', coalesce(closed_at, created_at)))
    """, [operation, start - timedelta(days=14), start])
    return (row[0] or 0) / 3600 if row else 0.0


def _next_end(cursor: datetime, limit: datetime, density: float | None, ws: WolkvoxSettings) -> datetime:
    """End (inclusive) of the next window from `cursor`: as long as the densest rate seen allows.

    With nothing seen yet (`density` None) the first window is one day: a 31-day probe of a busy
    operation would come back truncated and cost a cascade of halvings.
    """
    longest = ws.max_window_days * 86400
    if density is None:
        seconds = min(86400, longest)
    elif density > 0:
        seconds = (ws.row_cap - ws.truncation_margin) * FILL / density
    else:
        seconds = longest
    seconds = int(max(ws.min_window_seconds, min(seconds, longest)))
    raw = cursor + timedelta(seconds=seconds)
    # Prefer whole days / hours: readable windows (00:00:00–23:59:59), the vendor's examples.
    for unit in (86400, 3600):
        if seconds >= unit:
            midnight = raw.replace(hour=0, minute=0, second=0)
            snapped = midnight + timedelta(seconds=((raw - midnight).seconds // unit) * unit)
            if snapped > cursor:
                raw = snapped
            break
    return min(raw - SECOND, limit)


def fetch_interactions(con: duckdb.DuckDBPyConnection, settings: Settings, token: str, *,
                       since: datetime | None = None, until: datetime | None = None,
                       min_interval: float | None = None, run_id: int | None = None,
                       clock: Clock | None = None, now: datetime | None = None,
                       progress: Callable[[dict], None] | None = None, operation: Operation | None = None,
                       land_lock: threading.Lock | None = None) -> FetchSummary:
    """Pull chat_4 of one operation (default: the [wolkvox] one) for [since, until] (default: from its
    watermark minus the look-back to now).

    Each window lands in raw_pages + interactions in its own transaction together with the watermark
    (under `land_lock` when other operations land on the same database from other threads).
    `progress`, when given, is called after every landed window with the running counts.
    """
    op = operation or settings.operation_list()[0]
    ws, operation = op.wolkvox, op.name
    register_secret(token)
    started = time.monotonic()
    now = now or local_now(ws.timezone)
    start, end, contiguous = fetch_range(con, ws, operation, since, until, now)
    totals = _Totals()
    client = WolkvoxClient(ws, token, min_interval=min_interval, clock=clock)
    prior = _prior_density(con, operation, start)
    log.info("fetching chat_4 of operation %s, %s (%s) from %s", operation, _window_text(start, end), ws.timezone,
             client.base)
    try:
        cursor = start
        while cursor <= end:
            seen = [prior] if prior else []
            seen += totals.densities[-48:]  # ~ the last days at any hour: peaks are remembered
            density = max(seen) if seen else None
            window_end = _next_end(cursor, end, density, ws)
            _fetch_split(con, client, ws, operation, cursor, window_end, totals, run_id, contiguous,
                         store.DateRange(settings.ingest.earliest(), settings.ingest.max_days_ahead), land_lock)
            cursor = window_end + SECOND
            if progress:
                progress({"until": _fmt(window_end), "windows": totals.windows, "rows": totals.rows,
                          "calls": client.calls})
    finally:
        client.close()
        calls = client.calls
    watermark = store.get_watermark(con, operation, REPORT)
    summary = FetchSummary(
        since=_fmt(start), until=_fmt(end), windows=totals.windows, rows=totals.rows, new=totals.new,
        updated=totals.updated, unchanged=totals.unchanged, quarantined=totals.quarantined, calls=calls,
        splits=totals.splits, empty=totals.empty, seconds=round(time.monotonic() - started, 3),
        watermark=_fmt(watermark) if watermark else None)
    log.debug("fetch done: %s, %d calls, %d splits", summary.text(), calls, totals.splits)
    return summary


@dataclass
class OperationsFetch:
    """What a fetch over several operations did: each one's summary, or the error that stopped it."""

    fetched: dict[str, FetchSummary] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # operation → its one-line error

    def to_dict(self) -> dict:
        totals = {k: sum(getattr(f, k) for f in self.fetched.values())
                  for k in ("windows", "rows", "new", "updated", "unchanged", "quarantined", "calls", "splits", "empty")}
        return {**totals, "operations": {**{n: f.to_dict() for n, f in self.fetched.items()},
                                         **{n: {"error": e} for n, e in self.failed.items()}},
                "failed": sorted(self.failed)}

    def text(self) -> str:
        parts = [f"{name}: {f.text()}" for name, f in self.fetched.items()]
        parts += [f"{name}: FAILED ({error})" for name, error in self.failed.items()]
        return "; ".join(parts)


def fetch_operations(con: duckdb.DuckDBPyConnection, settings: Settings, operations: list[Operation], *,
                     environ=os.environ, since: datetime | None = None, until: datetime | None = None,
                     min_interval: float | None = None, run_id: int | None = None, clock: Clock | None = None,
                     progress: Callable[[dict], None] | None = None) -> OperationsFetch:
    """Fetch every operation, each from its own watermark with its own token, pacing and lock.

    Operations with different tokens fetch at the same time (one thread and one database cursor
    each; their landings take turns); operations sharing a token go one after the other, so the
    token never has two calls in flight. One operation's failure (bad token, quota, a broken API)
    is recorded and the others go on: what they landed stays, and the next fetch resumes each from
    its own watermark. The caller decides what a failure means (the CLI exits 1 naming it)."""
    result = OperationsFetch()
    groups: dict[str, list[tuple[Operation, str]]] = {}
    for op in operations:
        try:
            token = read_token(environ, op)
        except QAError as err:
            result.failed[op.name] = one_line(scrub_secrets(str(err)))
            log.error("operation %s: %s", op.name, result.failed[op.name])
            continue
        groups.setdefault(token, []).append((op, token))
    land_lock = threading.Lock()

    def work(group: list[tuple[Operation, str]], cursor) -> None:
        for op, token in group:
            try:
                result.fetched[op.name] = fetch_interactions(
                    cursor, settings, token, since=since, until=until, min_interval=min_interval, run_id=run_id,
                    clock=clock, progress=progress, operation=op, land_lock=land_lock)
            except QAError as err:
                result.failed[op.name] = one_line(scrub_secrets(str(err)))
                log.error("operation %s: %s", op.name, result.failed[op.name])
            except BaseException as err:  # a defect, not an operation's fault: raised after the others end
                unexpected.append(err)
                return

    unexpected: list[BaseException] = []
    if len(groups) <= 1:
        for group in groups.values():
            work(group, con)
    else:
        cursors = [con.cursor() for _ in groups]
        threads = [threading.Thread(target=work, args=(group, cur), name=f"fetch-{group[0][0].name}", daemon=True)
                   for group, cur in zip(groups.values(), cursors)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            for cur in cursors:
                cur.close()
    if unexpected:
        raise unexpected[0]
    # a stable order for summaries: the configuration's
    order = {op.name: i for i, op in enumerate(operations)}
    result.fetched = dict(sorted(result.fetched.items(), key=lambda kv: order[kv[0]]))
    result.failed = dict(sorted(result.failed.items(), key=lambda kv: order[kv[0]]))
    return result


def _fetch_split(con, client: WolkvoxClient, ws: WolkvoxSettings, operation: str, start: datetime,
                 end: datetime, totals: _Totals, run_id: int | None, contiguous: bool,
                 dates: store.DateRange, land_lock: threading.Lock | None = None) -> None:
    """Fetch [start, end], splitting in halves (depth first, in time order) while it is unusable."""
    pending = [(start, end)]
    while pending:
        a, b = pending.pop()
        reply = client.fetch_window(a, b)
        seconds = (b - a).total_seconds() + 1
        truncated = reply.outcome == _Outcome.OK and reply.rows >= ws.row_cap - ws.truncation_margin
        if truncated or reply.outcome in (_Outcome.BROKEN, _Outcome.TIMEOUT):
            why = (f"{reply.rows:,} rows, possibly truncated at the cap of {ws.row_cap:,}" if truncated
                   else scrub_secrets(reply.detail))
            if truncated:
                totals.densities.append(reply.rows / seconds)
            if seconds < 2 * ws.min_window_seconds:
                raise APIError(f"Wolkvox API {_window_text(a, b)}: {why}, and the window cannot be split "
                               f"below {ws.min_window_seconds} s (wolkvox.min_window_seconds)")
            middle = a + timedelta(seconds=int(seconds // 2) - 1)
            log.info("splitting %s: %s", _window_text(a, b), why)
            totals.splits += 1
            pending.append((middle + SECOND, b))
            pending.append((a, middle))
            continue
        if land_lock is None:
            _land_window(con, client, operation, ws.timezone, a, b, reply, totals, run_id, contiguous, dates)
        else:
            with land_lock:  # one writer at a time: the operations' HTTP waits overlap, their landings do not
                _land_window(con, client, operation, ws.timezone, a, b, reply, totals, run_id, contiguous, dates)
        totals.densities.append(reply.rows / seconds)


def _land_window(con, client: WolkvoxClient, operation: str, tz: str, start: datetime, end: datetime,
                 reply: _Reply, totals: _Totals, run_id: int | None, contiguous: bool,
                 dates: store.DateRange) -> None:
    """Land one window's page and move the watermark, in one transaction."""
    with store.atomic(con):
        if reply.page is not None:
            landed = store.land_page(con, reply.page, source=client.source(start, end), kind="api",
                                     operation=operation, tz=tz, window=(start, end), run_id=run_id,
                                     transaction=False, dates=dates)
        else:
            landed = store.LandSummary(source=client.source(start, end))
        if contiguous:
            store.set_watermark(con, operation, end, REPORT)
    totals.windows += 1
    totals.rows += landed.rows
    if reply.outcome == _Outcome.EMPTY:
        totals.empty += 1
    if landed.skipped:
        totals.unchanged += landed.rows
    else:
        totals.new += landed.new
        totals.updated += landed.updated
        totals.unchanged += landed.unchanged
        totals.quarantined += landed.quarantined
    log.debug("%s: %s", _window_text(start, end),
             "no rows" if reply.page is None else
             f"{landed.rows:,} rows ({landed.new:,} new, {landed.updated:,} updated, "
             f"{landed.quarantined:,} quarantined)" + (", identical page already stored" if landed.skipped else ""))
