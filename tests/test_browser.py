"""The reports in a real headless Chromium (marked `browser`): they load without console errors or
CSP refusals, make no network request, and an agent page prints in at most four pages.

Chromium's traffic is caught by a loopback proxy sink (one per Chromium run). The sink is read only
after that run's Chromium has exited, once every connection it made has been accepted and read to
its request head or to EOF, so what it reports does not depend on how loaded the machine is.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from qa_scoring import store
from qa_scoring.report import render_reports
from tests.test_report import fill_derived, import_rows, row, settings_for

CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs /usr/bin/chromium (apt-get install chromium)")

# Chromium's own service traffic (clock, updates, accounts) that its flags do not fully silence; it
# reaches the sink, never the network, and is not the page's doing.
BROWSER_OWN = re.compile(rb"^[A-Z]+ (http://)?[a-z0-9.-]*(google\.com|googleapis\.com|gstatic\.com|gvt1\.com)[:/ ]")


class Sink:
    """A TCP listener standing in for every proxy / network endpoint: it records what each connection
    sent, up to the end of its request head.

    `requests()` first waits for the client to be gone (call it after the browser exited): it accepts
    every connection still in the backlog and reads each one to EOF or to a complete head. A
    connection closed without sending a byte (Chromium opens speculative proxy connections and drops
    them unused) carried nothing and is counted apart in `empty`, not as a request.
    """

    HEAD_LIMIT = 4096

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.heads: list[bytes] = []
        self.empty = 0
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_while_running, daemon=True)
        self._acceptor.start()

    def _accept_pending(self, wait: float) -> bool:
        """Accept one connection if one arrives within `wait` seconds; True when one was accepted."""
        if not select.select([self.sock], [], [], wait)[0]:
            return False
        conn, _ = self.sock.accept()
        reader = threading.Thread(target=self._read, args=(conn,), daemon=True)
        with self._lock:
            self._readers.append(reader)
        reader.start()
        return True

    def _accept_while_running(self) -> None:
        while not self._stop.is_set():
            self._accept_pending(0.05)

    def _read(self, conn: socket.socket) -> None:
        # No reply is ever sent: the client fails its request, and closes the socket at the latest
        # when it exits, so reading to EOF always ends; the timeout only bounds a hung browser.
        conn.settimeout(60)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < self.HEAD_LIMIT:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                data += chunk
        except OSError:
            data += b" [read timed out]"  # counted as a request: better a false alarm than a miss
        finally:
            conn.close()
        with self._lock:
            if data:
                self.heads.append(data)
            else:
                self.empty += 1

    def requests(self) -> list[bytes]:
        """Every request head the client sent (call once the client has exited); closes the sink."""
        self._stop.set()
        self._acceptor.join()
        while self._accept_pending(0):  # the backlog: connections made but not accepted yet
            pass
        self.sock.close()
        for reader in self._readers:
            reader.join(90)
        return list(self.heads)


def page_requests(heads: list[bytes]) -> list[bytes]:
    """The requests that are not Chromium's own service traffic."""
    return [head for head in heads if not BROWSER_OWN.match(head)]


def chromium(args: list[str], profile: Path) -> tuple[subprocess.CompletedProcess, list[bytes]]:
    """Run headless Chromium once with every connection sent to a fresh sink: (result, request heads)."""
    sink = Sink()
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-default-apps", "--no-default-browser-check", "--disable-extensions",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           f"--proxy-server=http://127.0.0.1:{sink.port}", "--proxy-bypass-list=<-loopback>", *args]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    finally:
        heads = sink.requests()
    return result, heads


def test_sink_counts_requests_made_just_before_it_is_read_and_not_empty_connections():
    """The race behind the old flaky failure ([b'', b''] after a clean run): connections still in the
    backlog when the sink is read, and connections closed without a byte."""
    sink = Sink()
    sink._stop.set()  # nobody accepts while the client works: everything waits in the backlog
    sink._acceptor.join()
    for head in (b"GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n", b"CONNECT a.b:443 HT", b""):
        with socket.create_connection(("127.0.0.1", sink.port)) as client:
            client.sendall(head)
    assert sorted(sink.requests()) == [b"CONNECT a.b:443 HT", b"GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n"]
    assert sink.empty == 1


@pytest.mark.browser
@needs_chromium
def test_chromium_loads_pages_without_errors_or_network(sample_db, tmp_path):
    con = store.connect(sample_db)
    # hostile text: a raw chat line with a script, an HTML email whose decoded text is an <img> tag
    import_rows(con, tmp_path, [row(agent_name="<img src=http://127.0.0.1:9/x onerror=alert(1)>",
                                    body="<script>fetch('http://example.com')</script>",
                                    answer="<div>ya le dije &lt;img src=//example.com/p.png&gt;</div>")], "evil.json")
    assert store.fetch_one(con, "SELECT answer FROM interactions WHERE agent_name LIKE '<img%'")[0] == \
        "ya le dije <img src=//example.com/p.png>"
    fill_derived(con)
    out = tmp_path / "reports"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None)
    con.close()
    agent = sorted((out / "agents").glob("img-src-http*.html"))[0]
    control = tmp_path / "control.html"  # proves the sink sees a page's request
    control.write_text('<!DOCTYPE html><html><body><img src="http://example.com/pixel.png"></body></html>',
                       encoding="utf-8")
    _, heads = chromium(["--dump-dom", control.as_uri()], tmp_path / "profile-c")
    assert any(b"example.com" in head for head in page_requests(heads)), heads
    requests = []
    for n, page in enumerate([out / "index.html", agent, out / "rules.html", out / "model.html", out / "calibration.html"]):
        shot = tmp_path / f"shot-{n}.png"
        result, heads = chromium([f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars",
                                  page.as_uri()], tmp_path / f"profile-{n}")
        requests += page_requests(heads)
        assert shot.is_file() and shot.stat().st_size > 10_000, result.stderr[-2000:]
        console = [ln for ln in result.stderr.splitlines() if "CONSOLE" in ln or "Refused to" in ln]
        assert console == [], console
        result, heads = chromium(["--dump-dom", page.as_uri()], tmp_path / f"profile-d{n}")
        requests += page_requests(heads)
        assert "</html>" in result.stdout and "<script" not in result.stdout.lower()
        assert "<img src=//example.com" not in result.stdout
    mobile = tmp_path / "shot-mobile.png"
    _, heads = chromium([f"--screenshot={mobile}", "--window-size=390,1400", agent.as_uri()], tmp_path / "profile-m")
    requests += page_requests(heads)
    assert mobile.is_file()
    assert requests == [], requests[:3]
    if os.environ.get("QA_REPORT_SHOTS"):  # keep the screenshots for a human look
        shutil.copytree(tmp_path, os.environ["QA_REPORT_SHOTS"], dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("profile-*", "*.duckdb*"))


@pytest.mark.browser
@needs_chromium
def test_agent_pages_print_in_at_most_four_pages(sample_db, tmp_path):
    """Issue 12, also worth doing: an agent page prints in ≤ 4 A4 pages (the bundled sample's month,
    the real rule pack; the agent with 16 critical failures is the longest)."""
    from qa_scoring.resources import rules_dir
    from qa_scoring.rules import load_rule_pack, score_interactions

    con = store.connect(sample_db)
    score_interactions(con, load_rule_pack(rules_dir()))
    out = tmp_path / "reports"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None)
    con.close()
    for n, page in enumerate(sorted((out / "agents").glob("*.html"))):
        pdf = tmp_path / f"p{n}.pdf"
        result, heads = chromium(["--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()], tmp_path / f"prof-{n}")
        assert pdf.is_file(), result.stderr[-2000:]
        pages = len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf.read_bytes()))
        assert 1 <= pages <= 4, (page.name, pages)
        assert page_requests(heads) == [], (page.name, heads[:3])
