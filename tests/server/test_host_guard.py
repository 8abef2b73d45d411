"""DNS rebinding and foreign pages: every route and the Socket.IO handshake check `Host` and
`Origin` against the names the server was started for (crawler/web/auth.py, source_refusal).

The attack: a page on rebind.attacker.example, a name its owner makes resolve to 127.0.0.1, calls
the server as a same-origin page would (`Host: rebind.attacker.example:<port>`) and reads the
answers; or a page of another origin posts to it. Real servers in subprocesses, real clients.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import socketio

from tests.support.server import PROJECT_ROOT, ServerProcess, free_port, wait_until

VALID_UNKNOWN_ID = "20000101-000000-abcdef"
REBOUND = "rebind.attacker.example"
FOREIGN_ORIGIN = "http://evil.example"


def send(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    """One request with exactly these headers (Host included), as a browser on a rebound name sends it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def loopback_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of its own: the tests check that its data directory holds no crawl at all.
    --allow-private-targets: the attack's crawl of a local address would be accepted (202)."""
    proc = ServerProcess(tmp_path_factory.mktemp("guard") / "crawls", "--allow-private-targets",
                         "--cpu-workers", "1")
    yield proc
    proc.stop()


def routes(port: int) -> list[tuple[str, str, bytes | None]]:
    """One of each route family: dashboard, static, REST reads and writes, metrics, downloads, MCP."""
    crawl = json.dumps({"url": f"http://127.0.0.1:{port}/"}).encode()
    mcp = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode()
    return [
        ("GET", "/", None),
        ("GET", "/static/style.css", None),
        ("GET", "/api/health", None),
        ("GET", "/api/session", None),
        ("GET", "/api/crawls", None),
        ("POST", "/api/crawls", crawl),
        ("POST", "/api/discover", crawl),
        ("GET", f"/api/crawls/{VALID_UNKNOWN_ID}", None),
        ("POST", f"/api/crawls/{VALID_UNKNOWN_ID}/stop", b""),
        ("DELETE", f"/api/crawls/{VALID_UNKNOWN_ID}", None),
        ("GET", f"/api/crawls/{VALID_UNKNOWN_ID}/download?format=zip", None),
        ("GET", "/api/search?q=docs", None),
        ("GET", "/api/system", None),
        ("GET", "/metrics", None),
        ("POST", "/mcp", mcp),
        ("GET", "/no/such/page", None),
    ]


JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def test_a_rebound_host_name_is_refused_on_every_route(loopback_server):
    port = loopback_server.port
    for method, path, body in routes(port):
        for headers in ({"Host": f"{REBOUND}:{port}"},  # a rebound page's own requests
                        {"Host": f"{REBOUND}:{port}", "Origin": f"http://{REBOUND}:{port}"},
                        {"Host": REBOUND}):
            status, answer_headers, answer = send(port, method, path, {**JSON_HEADERS, **headers}, body)
            assert status == 421, (method, path, headers, status, answer[:300])
            assert answer_headers["content-type"] == "application/json"
            assert "does not answer to the name" in json.loads(answer)["error"]
            assert "set-cookie" not in answer_headers  # refused before any session is made
            assert "access-control-allow-origin" not in answer_headers
    # Nothing was started by those POSTs: the only crawls are none.
    http = requests.Session()
    assert http.get(loopback_server.base + "/api/crawls", timeout=10).json() == {"crawls": []}
    assert not any(p.name[:8].isdigit() for p in loopback_server.data_dir.iterdir())


def test_a_page_of_another_origin_is_refused_on_every_route(loopback_server):
    port = loopback_server.port
    for method, path, body in routes(port):
        for origin in (FOREIGN_ORIGIN, f"http://{REBOUND}:{port}", f"http://localhost:{port + 1}", "null",
                       f"http://127.0.0.1:{port}.evil.example"):
            headers = {**JSON_HEADERS, "Host": f"127.0.0.1:{port}", "Origin": origin}
            status, answer_headers, answer = send(port, method, path, headers, body)
            assert status == 403, (method, path, origin, status, answer[:300])
            assert "are refused" in json.loads(answer)["error"]
            assert "access-control-allow-origin" not in answer_headers


def test_the_right_names_and_origins_still_work(loopback_server):
    port = loopback_server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"):
        for origin in (None, f"http://{host.lower()}", f"http://localhost:{port}"):
            headers = {**JSON_HEADERS, "Host": host, **({"Origin": origin} if origin else {})}
            status, _, answer = send(port, "GET", "/api/crawls", headers)
            assert status == 200, (host, origin, answer[:300])
    status, _, answer = send(port, "GET", "/", {"Host": f"localhost:{port}"})
    assert status == 200 and b"<html" in answer.lower()
    status, _, answer = send(port, "POST", "/mcp", {**JSON_HEADERS, "Host": f"localhost:{port}",
                                                    "Origin": f"http://localhost:{port}"},
                             json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode())
    assert status == 200 and b"search_docs" in answer


POLLING = "/socket.io/?EIO=4&transport=polling"


def test_the_engineio_handshake_refuses_a_rebound_host_or_a_foreign_origin(loopback_server):
    port = loopback_server.port
    refused = [
        ({"Host": f"{REBOUND}:{port}", "Origin": f"http://{REBOUND}:{port}"}, 421),
        ({"Host": f"{REBOUND}:{port}"}, 421),
        ({"Host": f"127.0.0.1:{port}", "Origin": FOREIGN_ORIGIN}, 403),
        ({"Host": f"127.0.0.1:{port}", "Origin": f"http://{REBOUND}:{port}"}, 403),
    ]
    for headers, expected in refused:
        status, answer_headers, answer = send(port, "GET", POLLING, headers)
        assert status == expected, (headers, status, answer[:200])
        assert "access-control-allow-origin" not in answer_headers, answer_headers
        assert b'"sid"' not in answer
        # The WebSocket transport's upgrade request is refused the same way.
        upgrade = {**headers, "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
        status, answer_headers, _ = send(port, "GET", "/socket.io/?EIO=4&transport=websocket", upgrade)
        assert status == expected and "sec-websocket-accept" not in answer_headers
    status, answer_headers, answer = send(port, "GET", POLLING,
                                          {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"})
    assert status == 200 and b'"sid"' in answer
    assert answer_headers["access-control-allow-origin"] == f"http://localhost:{port}"


@pytest.mark.slow
def test_a_socketio_client_from_a_foreign_origin_cannot_connect(loopback_server):
    http = requests.Session()
    http.get(loopback_server.base + "/api/health", timeout=5)
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)

    def connect(origin: str, transport: str, host: str | None = None) -> socketio.Client:
        # The WebSocket client sends an Origin (and a Host) of its own: they are replaced, not doubled.
        options = {"origin": origin, **({"host": host} if host else {})}
        client = socketio.Client(reconnection=False, websocket_extra_options=options)
        headers = {"Cookie": cookie}
        if transport == "polling":
            headers.update({"Origin": origin, **({"Host": host} if host else {})})
        client.connect(loopback_server.base, headers=headers, transports=[transport], wait_timeout=5)
        return client

    rebound = f"{REBOUND}:{loopback_server.port}"
    for transport in ("websocket", "polling"):
        # The rebound page's own socket: its name and its origin agree, and neither is the server's.
        with pytest.raises(socketio.exceptions.ConnectionError):
            connect(f"http://{rebound}", transport, host=rebound)
        for origin in (FOREIGN_ORIGIN, f"http://{rebound}"):
            with pytest.raises(socketio.exceptions.ConnectionError):
                connect(origin, transport)
        client = connect(loopback_server.base, transport)
        assert client.connected and client.call("echo", "same origin", timeout=5)["data"] == "same origin"
        client.disconnect()


def test_allowed_hosts_lets_a_reverse_proxy_name_through(tmp_path):
    server = ServerProcess(tmp_path / "crawls", "--cpu-workers", "1", "--allowed-hosts",
                           "crawler.example.test, docs-proxy.example.test:8443")
    try:
        port = server.port
        accepted = [{"Host": "crawler.example.test"}, {"Host": "crawler.example.test:443",
                                                       "Origin": "https://crawler.example.test"},
                    {"Host": f"127.0.0.1:{port}", "Origin": "https://crawler.example.test"},
                    {"Host": "docs-proxy.example.test:8443", "Origin": "https://docs-proxy.example.test:8443"},
                    {"Host": f"127.0.0.1:{port}"}]
        for headers in accepted:
            status, _, answer = send(port, "GET", "/api/crawls", headers)
            assert status == 200, (headers, answer[:300])
        status, _, answer = send(port, "GET", POLLING, {"Host": "crawler.example.test",
                                                        "Origin": "https://crawler.example.test"})
        assert status == 200 and b'"sid"' in answer
        for headers, expected in [({"Host": f"{REBOUND}:{port}"}, 421),
                                  ({"Host": "docs-proxy.example.test:9000"}, 421),
                                  ({"Host": "crawler.example.test", "Origin": FOREIGN_ORIGIN}, 403)]:
            status, _, answer = send(port, "GET", "/api/crawls", headers)
            assert status == expected, (headers, answer[:300])
    finally:
        server.stop()


@pytest.mark.parametrize("flag_or_env, value, shown", [
    ("flag", "http://crawler.example.com/", "'http://crawler.example.com/'"),
    ("flag", "crawler.example.com,*.example.com", "'*.example.com'"),
    ("flag", "crawler.example.com:99999", "'crawler.example.com:99999'"),
    ("env", "crawler example", "'crawler example'"),
    ("env", "proxy:port", "'proxy:port'"),
])
def test_bad_allowed_hosts_stop_the_start_with_a_clear_error(tmp_path, flag_or_env, value, shown):
    args = ["--allowed-hosts", value] if flag_or_env == "flag" else []
    env = {**os.environ, **({"CRAWLER_ALLOWED_HOSTS": value} if flag_or_env == "env" else {})}
    started = subprocess.run([sys.executable, str(PROJECT_ROOT / "crawler_app.py"), "--port", str(free_port()),
                              "--data-dir", str(tmp_path / "crawls"), *args],
                             cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 2, started.stdout + started.stderr
    name = "--allowed-hosts" if flag_or_env == "flag" else "CRAWLER_ALLOWED_HOSTS"
    assert f"error: {name}: {shown} is not a host name or host:port" in started.stderr, started.stderr
    assert "Crawler Dashboard on" not in started.stdout


def test_under_gunicorn_the_names_come_from_the_environment(tmp_path):
    """`create_app()` from CRAWLER_* variables (README "Production"): the same guard."""
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed")
    port = free_port()
    log = open(tmp_path / "gunicorn.log", "wb")
    env = {**os.environ, "CRAWLER_DATA_DIR": str(tmp_path / "crawls"), "CRAWLER_CPU_WORKERS": "1",
           "CRAWLER_ALLOWED_HOSTS": "crawler.example.test"}
    process = subprocess.Popen([str(gunicorn), "-w", "1", "--threads", "8", "-b", f"127.0.0.1:{port}",
                                "crawler.web:create_app()"], cwd=PROJECT_ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                return send(port, "GET", "/api/health", {"Host": f"127.0.0.1:{port}"})[0] == 200
            except OSError:
                return False

        wait_until(up, timeout=60, interval=0.2, message="gunicorn to answer")
        assert send(port, "GET", "/api/crawls", {"Host": "crawler.example.test"})[0] == 200
        assert send(port, "GET", "/api/crawls", {"Host": f"{REBOUND}:{port}"})[0] == 421
        status, headers, _ = send(port, "GET", POLLING, {"Host": f"{REBOUND}:{port}",
                                                         "Origin": f"http://{REBOUND}:{port}"})
        assert status == 421 and "access-control-allow-origin" not in headers
        assert send(port, "POST", "/api/crawls", {"Host": f"localhost:{port}", "Origin": FOREIGN_ORIGIN,
                                                  "Content-Type": "application/json"}, b"{}")[0] == 403
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
