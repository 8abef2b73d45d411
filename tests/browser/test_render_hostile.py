"""A rendered page is hostile: nothing it does may reach the server, its network, or another
origin's data. Each test runs a real Chromium (and, where the server matters, the real server
under gunicorn, or a cluster worker) against pages whose scripts try:

* WebRTC with a STUN/TURN server (UDP to any address and port, ICE candidates that give away
  local addresses), preconnect and DNS prefetch: a UDP and TCP listener of the test receives
  nothing, and no candidate reaches the page;
* reading the dashboard (`/api/system`, `/metrics`, directly, through a reverse proxy, as
  `localhost`) and starting a crawl on it: nothing is read, nothing is started;
* reading another origin that sends no CORS header: not readable (one that allows it is);
* taking the page elsewhere (`location`, a meta refresh, to another origin or a refused
  address): the page is skipped as `navigated`, never saved with foreign or error content.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from crawler.engine.cpu import CpuPool
from crawler.engine.netguard import non_public_reason
from crawler.folder.reader import iter_manifest
from crawler.render import RenderPool
from tests.support.render import RENDER_TESTS, Crawl, browsers_below, gone
from tests.support.render_sites import APP_TEXT
from tests.support.server import PROJECT_ROOT, crawl_over_rest, free_port, stop_process, wait_until

pytestmark = RENDER_TESTS

TEXT = APP_TEXT * 2
DASHBOARD_HEADER = "X-Crawler-Dashboard"  # every answer of the dashboard carries it

# A shell (`render: auto` renders it: a <noscript> asking for JavaScript, an empty app root) whose
# script runs `{script}`, then writes `results` (a list of strings) into the page as text.
SHELL = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>{head}</head>
<body><noscript>You need to enable JavaScript to run this app.</noscript><div id="app"></div>
<script>
const results = [];
function show() {{
  const main = document.createElement('main'), article = document.createElement('article');
  const h1 = document.createElement('h1'), text = document.createElement('p'), found = document.createElement('p');
  h1.textContent = {title!r}; text.textContent = {text!r}; found.textContent = 'RESULTS ' + results.join(' || ');
  article.append(h1, text, found); main.append(article); document.getElementById('app').replaceChildren(main);
}}
(async () => {{ try {{ {script} }} catch (e) {{ results.push('script error ' + e); }} show(); }})();
</script></body></html>"""

# Every attempt at once, so the page never goes quiet between two of them (the renderer takes a
# page that went quiet as done, and a busy machine can stretch the pause between awaits).
READ_TARGETS = """
await Promise.all({targets}.map(async ([label, url, init]) => {{
  try {{
    const answer = await fetch(url, init || {{}});
    const body = await answer.text();
    results.push(label + ' read ' + answer.status + ' ' + body.slice(0, 300));
  }} catch (e) {{ results.push(label + ' refused'); }}
}}));"""


def shell(title: str, script: str, head: str = "") -> str:
    return SHELL.format(title=title, head=head, text=TEXT, script=script)


class Site:
    """Pages on 127.0.0.1 (`pages`: path → HTML, or (status, headers, body)); `/hold?ms=N`
    answers after N ms (a page keeps a request open while it waits for something)."""

    def __init__(self) -> None:
        self.pages: dict[str, Any] = {}
        self.hits: dict[str, int] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                site.hits[parts.path] = site.hits.get(parts.path, 0) + 1
                if parts.path == "/hold":
                    time.sleep(int(parse_qs(parts.query).get("ms", ["1000"])[0]) / 1000)
                    answer: Any = (200, {"Content-Type": "text/plain"}, "held")
                else:
                    answer = site.pages.get(parts.path, (404, {"Content-Type": "text/plain"}, "not found"))
                if isinstance(answer, str):
                    answer = (200, {"Content-Type": "text/html; charset=utf-8"}, answer)
                status, headers, body = answer
                data = body.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.close()


@pytest.fixture
def other() -> Iterator[Site]:
    """A second origin (another port of 127.0.0.1)."""
    served = Site()
    yield served
    served.close()


class Listener:
    """One port number of 127.0.0.1 in UDP and TCP: every datagram and connection is recorded."""

    def __init__(self) -> None:
        for _attempt in range(50):  # a free UDP port may be taken in TCP: try another
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket()
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        else:
            raise AssertionError("no port of 127.0.0.1 free in both UDP and TCP")
        self.tcp.listen(16)
        self.datagrams: list[tuple[Any, int]] = []
        self.connections: list[Any] = []
        self._closed = threading.Event()
        threading.Thread(target=self._receive, daemon=True).start()
        threading.Thread(target=self._accept, daemon=True).start()

    def _receive(self) -> None:
        self.udp.settimeout(0.2)
        while not self._closed.is_set():
            try:
                data, sender = self.udp.recvfrom(65536)
                self.datagrams.append((sender, len(data)))
            except TimeoutError:
                continue
            except OSError:
                return

    def _accept(self) -> None:
        self.tcp.settimeout(0.2)
        while not self._closed.is_set():
            try:
                connection, peer = self.tcp.accept()
                self.connections.append(peer)
                connection.close()
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._closed.set()
        self.udp.close()
        self.tcp.close()


WEBRTC = """
const port = {port};
const frame = document.createElement('iframe');
document.body.appendChild(frame);
const apis = ['RTCPeerConnection', 'webkitRTCPeerConnection', 'RTCDataChannel', 'WebTransport'];
results.push('apis ' + apis.map(name => name + '=' + typeof window[name]).join(' '));
results.push('frame ' + typeof frame.contentWindow.RTCPeerConnection);
const makers = [window.RTCPeerConnection, window.webkitRTCPeerConnection,
                frame.contentWindow.RTCPeerConnection].filter(Boolean);
const candidates = [];
for (const Maker of makers) {{
  try {{
    const peer = new Maker({{iceServers: [{{urls: 'stun:127.0.0.1:' + port}},
      {{urls: 'turn:127.0.0.1:' + port + '?transport=udp', username: 'u', credential: 'p'}}]}});
    peer.onicecandidate = event => {{ if (event.candidate && event.candidate.candidate) candidates.push(event.candidate.candidate); }};
    peer.createDataChannel('probe');
    await peer.setLocalDescription(await peer.createOffer());
    results.push('offer made');
  }} catch (e) {{ results.push('peer error ' + e.name); }}
}}
try {{ const transport = new WebTransport('https://127.0.0.1:' + port + '/'); await transport.ready; results.push('webtransport open'); }}
catch (e) {{ results.push('webtransport error ' + e.name); }}
await fetch('/hold?ms=1500');  // time to gather candidates, with a request open (the render waits)
results.push('candidates ' + (candidates.length ? candidates.join(' ; ') : 'none'));
"""


def test_webrtc_sends_no_udp_and_the_page_gets_no_ice_candidate(
        tmp_path: Path, cpu: CpuPool, site: Site, make_pool: Callable[..., RenderPool]) -> None:
    listener = Listener()
    try:
        head = (f'<link rel="dns-prefetch" href="//rtc-probe.example.org"><link rel="preconnect" '
                f'href="http://127.0.0.1:{listener.port}"><link rel="preconnect" href="https://rtc-probe.example.org">')
        site.pages["/webrtc"] = shell("WebRTC", WEBRTC.format(port=listener.port), head)
        started = time.monotonic()
        crawl = Crawl(tmp_path, cpu, make_pool(), url=site.base + "/webrtc", max_pages=1, render="always")
        summary = crawl.run()
        seconds = time.monotonic() - started
        entry = crawl.ok()[site.base + "/webrtc"]
        text = crawl.text(entry)
        time.sleep(0.5)  # anything still on its way arrives
        assert listener.datagrams == [], f"UDP sent past the crawler: {listener.datagrams}"
        assert listener.connections == [], f"a connection past the crawler: {listener.connections}"
        assert "candidates none" in text and "offer made" not in text, text
        assert "apis RTCPeerConnection=undefined webkitRTCPeerConnection=undefined" in text
        assert "frame undefined" in text  # a fresh iframe's window has none either
        assert summary["rendered"] == 1 and seconds < 30
    finally:
        listener.close()


def test_a_cross_origin_response_is_readable_only_when_its_origin_allows_it(
        tmp_path: Path, cpu: CpuPool, site: Site, other: Site, make_pool: Callable[..., RenderPool]) -> None:
    other.pages["/closed"] = (200, {"Content-Type": "application/json"}, '{"secret": "CLOSED-ORIGIN-DATA"}')
    other.pages["/open"] = (200, {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"},
                            '{"public": "OPEN-ORIGIN-DATA"}')
    targets = [["closed", other.base + "/closed"], ["open", other.base + "/open"],
               ["same", site.base + "/data"]]
    site.pages["/data"] = (200, {"Content-Type": "application/json"}, '{"own": "SAME-ORIGIN-DATA"}')
    site.pages["/cors"] = shell("CORS", READ_TARGETS.format(targets=json.dumps(targets)))
    crawl = Crawl(tmp_path, cpu, make_pool(), url=site.base + "/cors", max_pages=1, render="always")
    crawl.run()
    text = crawl.text(crawl.ok()[site.base + "/cors"])
    assert "closed refused" in text and "CLOSED-ORIGIN-DATA" not in text, text
    assert "OPEN-ORIGIN-DATA" in text and "SAME-ORIGIN-DATA" in text, text
    assert any("without CORS headers" in line for line in crawl.logs())


# ---------------------------------------------------------------- navigation out of the page

FOREIGN = "FOREIGN-PAGE-CONTENT"


@pytest.mark.parametrize("mode", ["auto", "always"])
def test_a_page_that_takes_itself_elsewhere_is_skipped_never_saved_with_other_content(
        tmp_path: Path, cpu: CpuPool, site: Site, other: Site, make_pool: Callable[..., RenderPool],
        mode: str) -> None:
    refused = socket.socket()  # a local port the browser may not reach (only the two sites may)
    refused.bind(("127.0.0.1", 0))
    refused_url = f"http://127.0.0.1:{refused.getsockname()[1]}/"
    try:
        other.pages["/foreign"] = (f"<!doctype html><html><head><title>Foreign</title></head><body><main><h1>{FOREIGN}"
                                   f"</h1><p>{FOREIGN} {TEXT}</p></main></body></html>")
        site.pages["/foreign-same"] = other.pages["/foreign"]
        site.pages["/to-other-origin"] = shell("Away", f"location.href = {other.base + '/foreign'!r};")
        site.pages["/to-same-origin"] = shell("Away", "location.href = '/foreign-same';")
        site.pages["/to-refused"] = shell("Refused", f"location.href = {refused_url!r};")
        site.pages["/meta-refresh"] = shell("Meta", "", f'<meta http-equiv="refresh" content="0; url={other.base}/foreign">')
        site.pages["/to-blank"] = shell("Blank", "location.href = 'about:blank';")
        site.pages["/post-form"] = shell("Form", "const form = document.createElement('form'); form.method = 'post'; "
                                                 "form.action = '/foreign-same'; document.body.append(form); form.submit();")
        site.pages["/stays"] = shell("Stays", "results.push('at home');")
        paths = ["/to-other-origin", "/to-same-origin", "/to-refused", "/meta-refresh", "/to-blank", "/post-form",
                 "/stays"]
        urls = [site.base + path for path in paths]
        pool = make_pool(allowed=frozenset({f"127.0.0.1:{site.port}", f"127.0.0.1:{other.port}"}))
        crawl = Crawl(tmp_path, cpu, pool, url=urls[0], urls=urls, render=mode, max_retries=0,
                      address_policy=lambda address: None if address == "127.0.0.1" else non_public_reason(address))
        summary = crawl.run()
        entries = {entry["url"]: entry for entry in crawl.entries}
        assert entries[site.base + "/stays"]["status"] == "ok" and "at home" in crawl.text(entries[site.base + "/stays"])
        for url in urls[:-1]:
            entry = entries[url]
            assert entry["status"] == "skipped" and entry["reason"] == "navigated", (entry["reason"], entry["error"])
            assert "the page navigated away to" in entry["error"]
        for entry in crawl.ok().values():
            text = crawl.text(entry)
            assert FOREIGN not in text and "ERR_" not in text and "can’t be reached" not in text
        assert summary["skip_reasons"].get("navigated") == len(paths) - 1, summary
    finally:
        refused.close()


# ---------------------------------------------------------------- the dashboard itself


class Forwarder:
    """A reverse proxy stand-in: every connection to its port is piped to `target_port`, so the
    dashboard is reached at an address nobody told the crawler about."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


class Gunicorn:
    """The README's production command: `gunicorn -w 1 --threads N -b ... 'crawler.web:create_app()'`."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"gunicorn-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "16", "-b", f"127.0.0.1:{self.port}",
             "--access-logfile", "-", "crawler.web:create_app()"], cwd=PROJECT_ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "CRAWLER_DATA_DIR": str(data_dir), "CRAWLER_ALLOW_PRIVATE_TARGETS": "1",
                 "CRAWLER_CPU_WORKERS": "1", **(env or {})})
        try:
            wait_until(self._healthy, timeout=60, interval=0.1, message="gunicorn to answer /api/health")
        except AssertionError:
            self.stop()
            raise AssertionError(f"gunicorn did not start:\n{self.log_path.read_text(errors='replace')}") from None

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{self.log_path.read_text(errors='replace')}")
        try:
            return requests.get(self.base + "/api/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def requests_for(self, path: str) -> int:
        """Requests for `path` the server answered (its access log)."""
        return self.log_path.read_text(errors="replace").count(f'"GET {path} HTTP/1.1"')

    def stop(self) -> None:
        stop_process(self.process, self._log, grace=20)


def dashboard_reader(site: Site, dashboard: str, port: int, forwarded: str, extra: list[Any] = ()) -> str:  # type: ignore[assignment]
    """The page's script: read the dashboard every way it can, and start a crawl on it."""
    start = {"url": site.base + "/stays", "render": "never"}
    targets = [["system", dashboard + "/api/system"], ["metrics", dashboard + "/metrics"],
               ["health", dashboard + "/api/health"], ["by-name", f"http://localhost:{port}/api/system"],
               ["proxied", forwarded + "/api/system"], ["proxied-metrics", forwarded + "/metrics"],
               ["post", dashboard + "/api/crawls", {"method": "POST", "headers": {"Content-Type": "application/json"},
                                                    "body": json.dumps(start)}],
               ["post-simple", dashboard + "/api/crawls", {"method": "POST", "mode": "no-cors",
                                                           "body": json.dumps(start)}]] + list(extra)
    return shell("Reader", READ_TARGETS.format(targets=json.dumps(targets)))


LABELS = ("system", "metrics", "health", "by-name", "proxied", "proxied-metrics", "post", "post-simple")


def assert_dashboard_unread(text: str) -> None:
    for label in LABELS:
        assert f"{label} refused" in text, f"{label}: {text}"
    for secret in ("memory_bytes", "crawls_running", "process_", "crawler_", '"mode"'):
        assert secret not in text, text


def saved_text(data_dir: Path, crawl_id: str, url: str) -> str:
    folder = data_dir / crawl_id
    entry = next(entry for entry in iter_manifest(folder) if entry["url"] == url)
    assert entry["status"] == "ok", entry
    return (folder / entry["path"]).read_text()


def test_under_gunicorn_a_rendered_page_reads_nothing_of_the_dashboard_and_starts_nothing(
        tmp_path: Path, site: Site) -> None:
    data = tmp_path / "crawls"
    data.mkdir()
    server = Gunicorn(data)
    forwarder = Forwarder(server.port)
    http = requests.Session()
    try:
        site.pages["/stays"] = shell("Stays", "results.push('at home');")
        site.pages["/reader"] = dashboard_reader(site, server.base, server.port, f"http://127.0.0.1:{forwarder.port}")
        # Without robots.txt: every request of the page is made, unless refused before it is sent.
        crawl_id = crawl_over_rest(server.base, http, site.base + "/reader", render="always", max_pages=1,
                                   use_sitemaps=False, respect_robots=False)
        text = saved_text(data, crawl_id, site.base + "/reader")
        assert_dashboard_unread(text)
        assert [folder.name for folder in data.iterdir() if folder.is_dir()] == [crawl_id]  # no crawl started
        # At its own addresses (learnt from the first request) the dashboard is never even asked;
        # through the proxy it is asked once per target, and its marked answer refused.
        wait_until(lambda: server.requests_for("/metrics") == 1, timeout=5, message="the access log")
        assert server.requests_for("/api/system") == 1 and forwarder.connections >= 1
        assert site.hits.get("/stays") is None
        assert http.get(server.base + "/api/health", timeout=5).headers.get(DASHBOARD_HEADER) == "1"
        browsers = browsers_below(server.process.pid)
    finally:
        http.close()
        forwarder.close()
        server.stop()
    wait_until(lambda: gone(browsers), timeout=10, message="Chromium to exit with gunicorn")


def test_on_a_cluster_worker_a_rendered_page_reads_nothing_of_the_web_server_or_redis(
        tmp_path: Path, site: Site) -> None:
    from tests.support.cluster import RedisServer, WorkerProcess, redis_server_binary, wait_for_workers, web_server

    redis_server_binary()
    redis = RedisServer(tmp_path / "redis")
    data = tmp_path / "crawls"
    web = worker = forwarder = None
    http = requests.Session()
    browsers: list[Any] = []
    try:
        web = web_server(data, redis.url)
        worker = WorkerProcess(redis.url, data, tmp_path)
        wait_for_workers(web, [worker])
        forwarder = Forwarder(web.port)
        redis_port = urlsplit(redis.url).port
        site.pages["/stays"] = shell("Stays", "results.push('at home');")
        site.pages["/reader"] = dashboard_reader(site, web.base, web.port, f"http://127.0.0.1:{forwarder.port}",
                                                 [["redis", f"http://127.0.0.1:{redis_port}/"]])
        crawl_id = crawl_over_rest(web.base, http, site.base + "/reader", render="always", max_pages=1,
                                   use_sitemaps=False)
        text = saved_text(data, crawl_id, site.base + "/reader")
        assert_dashboard_unread(text)
        assert "redis refused" in text
        assert [folder.name for folder in data.iterdir() if folder.is_dir()] == [crawl_id]
        browsers = browsers_below(worker.process.pid)
    finally:
        http.close()
        if forwarder is not None:
            forwarder.close()
        for process in (worker, web, redis):
            if process is not None:
                process.stop()
    wait_until(lambda: gone(browsers), timeout=10, message="Chromium to exit with its worker")


def test_the_fetcher_refuses_the_dashboards_answers_and_the_server_learns_where_it_listens(site: Site) -> None:
    from crawler.engine.fetch import FetchFailed, fetch_page
    from crawler.render.policy import MarkResponses, endpoint_keys

    site.pages["/marked"] = (200, {"Content-Type": "text/html", DASHBOARD_HEADER: "1"}, shell("Marked", ""))
    with pytest.raises(FetchFailed) as refused:
        fetch_page(requests.Session(), site.base + "/marked", timeout=5, stop=threading.Event(),
                   check_redirect=lambda target: None)
    assert refused.value.code == "blocked_address" and "dashboard" in refused.value.reason
    # The first request tells the pool every address the server is reached at, then no more.
    learnt: list[set[str]] = []
    with socket.socket() as listening, socket.socket() as wildcard:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        wildcard.bind(("0.0.0.0", 0))
        wildcard.listen(1)
        port, any_port = listening.getsockname()[1], wildcard.getsockname()[1]
        app = MarkResponses(lambda environ, start: start("200 OK", []) or [b""], learnt.append)
        sent: list[Any] = []
        app({"werkzeug.socket": listening}, lambda status, headers: sent.append(headers))
        app({"werkzeug.socket": listening}, lambda status, headers: sent.append(headers))
    assert len(learnt) == 1 and f"127.0.0.1:{port}" in learnt[0] and f"*:{any_port}" in learnt[0]
    assert all((DASHBOARD_HEADER, "1") in headers for headers in sent) and len(sent) == 2
    assert endpoint_keys("localhost", 6379) == {"127.0.0.1:6379", "::1:6379", "*:6379"}
