"""A hostile HTTP server on loopback, for tests of the client's limits (issue 18).

Each request gets the next scripted reply (a `Reply`): endless or huge bodies, gzip bombs, bytes
dripped one at a time in the headers or the body, lying Content-Length headers, deep JSON, any bytes
at all. Written on raw sockets, because a well-behaved HTTP server cannot misbehave this way.

Every loop is bounded in count and in time, and the server stops by itself: the accept loop ends
after `lifetime` seconds, and each reply stops writing at its own byte budget, at the server's
end of life, or as soon as the client goes away (which is what the tests measure).
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

MB = 1 << 20


@dataclass
class Served:
    """What happened to one request: its request line, the body bytes written, and whether the
    client went away before the reply was complete."""

    request_line: str
    headers: dict[str, str]
    sent: int = 0
    client_left: bool = False
    seconds: float = 0.0


@dataclass
class Reply:
    """One scripted answer: a status line and headers, then `parts` written in order.

    `parts` yields bytes; `pause` seconds are slept before each part (a drip). `head_pause` drips
    the status line and headers themselves, one byte per pause.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    parts: object = ()  # an iterable of bytes (a generator for big bodies), consumed once
    pause: float = 0.0
    head_pause: float = 0.0


def envelope(rows: list[dict] | None = None, code: object = 200, msg: str = "ok") -> bytes:
    return json.dumps({"code": code, "error": None, "msg": msg, "data": rows or []}).encode()


def body(payload: bytes, status: int = 200, **headers: str) -> Reply:
    """A plain reply with a right Content-Length."""
    return Reply(status, {"Content-Type": "application/json", "Content-Length": str(len(payload)), **headers},
                 [payload])


def endless(total: int, chunk: bytes = b" " * 65536, status: int = 200, content_length: int | None = None,
            head: bytes = b"") -> Reply:
    """`head` then `chunk` repeated up to `total` bytes, without holding them in memory. With no
    `content_length` the body is delimited by closing the connection (HTTP/1.0 style)."""

    def parts():
        yield head
        left = total - len(head)
        while left > 0:
            piece = chunk[:left]
            left -= len(piece)
            yield piece

    headers = {"Content-Type": "application/json", "Connection": "close"}
    if content_length is not None:
        headers["Content-Length"] = str(content_length)
    return Reply(status, headers, parts())


@lru_cache(maxsize=4)
def gzip_bomb_bytes(decoded: int) -> bytes:
    """A gzip stream that decodes to `decoded` spaces (1 GB takes ~1 MB)."""
    out = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (4 * MB)
    pieces = [out.compress(block) for _ in range(decoded // len(block))]
    pieces.append(out.compress(b" " * (decoded % len(block))))
    pieces.append(out.flush())
    return b"".join(pieces)


def gzip_bomb(decoded: int) -> Reply:
    payload = gzip_bomb_bytes(decoded)
    return Reply(200, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                       "Content-Length": str(len(payload))}, [payload])


def gzipped(payload: bytes) -> Reply:
    packed = gzip.compress(payload)
    return Reply(200, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                       "Content-Length": str(len(packed))}, [packed])


def drip(payload: bytes, every: float, status: int = 200, chunk: int = 1) -> Reply:
    """`payload` written `chunk` bytes at a time, one write every `every` seconds."""
    pieces = [payload[i:i + chunk] for i in range(0, len(payload), chunk)]
    return Reply(status, {"Content-Type": "application/json", "Content-Length": str(len(payload))}, pieces,
                 pause=every)


def drip_headers(payload: bytes, every: float) -> Reply:
    """The status line and headers dripped one byte every `every` seconds, then the body."""
    reply = body(payload)
    reply.head_pause = every
    return reply


class HostileServer:
    """Serve `replies` in order on 127.0.0.1 (then 404s); stops by itself after `lifetime` s."""

    def __init__(self, replies: list[Reply] | None = None, lifetime: float = 30.0, max_connections: int = 50):
        self.replies = list(replies or [])
        self.served: list[Served] = []
        self.lifetime = lifetime
        self.max_connections = max_connections
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._ends_at = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def calls(self) -> int:
        return len(self.served)

    def add(self, *replies: Reply) -> HostileServer:
        with self._lock:
            self.replies.extend(replies)
        return self

    def start(self) -> HostileServer:
        self._ends_at = time.monotonic() + self.lifetime
        thread = threading.Thread(target=self._accept_loop, name="hostile-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(5)
        self._listener.close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _alive(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._ends_at

    def _accept_loop(self) -> None:
        accepted = 0
        while self._alive() and accepted < self.max_connections:
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            accepted += 1
            thread = threading.Thread(target=self._serve, args=(conn,), name="hostile-conn", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _read_request(self, conn: socket.socket) -> tuple[str, dict[str, str]] | None:
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536 and self._alive():
            try:
                piece = conn.recv(4096)
            except OSError:
                return None
            if not piece:
                return None
            data += piece
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return head[0], headers

    def _serve(self, conn: socket.socket) -> None:
        started = time.monotonic()
        with conn:
            request = self._read_request(conn)
            if request is None:
                return
            served = Served(*request)
            with self._lock:
                self.served.append(served)
                reply = self.replies.pop(0) if self.replies else body(b'{"code": 404, "msg": "no reply left"}', 404)
            conn.settimeout(2)
            status = f"HTTP/1.1 {reply.status} Hostile\r\n"
            head = (status + "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items()) + "\r\n").encode("latin-1")
            try:
                if reply.head_pause:
                    for i in range(len(head)):
                        if not self._alive():
                            return
                        conn.sendall(head[i:i + 1])
                        self._stop.wait(reply.head_pause)
                else:
                    conn.sendall(head)
                for part in reply.parts:  # type: ignore[attr-defined]
                    if not self._alive():
                        break
                    if reply.pause:
                        self._stop.wait(reply.pause)
                    conn.sendall(part)
                    served.sent += len(part)
            except OSError:  # the client went away (what a client with limits does)
                served.client_left = True
            finally:
                served.seconds = time.monotonic() - started
