"""What the server answers when it refuses: every error on /api/* and /mcp is `{"error": ...}`
JSON (docs/events.md "REST"), GET /mcp answers at once, and a download's file name can hold any
host name without breaking its Content-Disposition header. Real server, real requests."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import textwrap

import pytest
import requests
from werkzeug.http import parse_options_header

from tests.support.server import PROJECT_ROOT, ServerProcess, wait_until

VALID_UNKNOWN_ID = "20000101-000000-abcdef"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


@pytest.fixture
def web(threading_server: ServerProcess) -> ServerProcess:
    """The shared server (private targets allowed, for the download of a local crawl)."""
    return threading_server


def raw(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> str:
    assert status == expected, (status, body[:300])
    assert headers.get("content-type", "").startswith("application/json"), (headers, body[:300])
    message = json.loads(body)["error"]
    assert isinstance(message, str) and message
    return message


def test_get_and_delete_on_mcp_answer_405_at_once(web):
    """GET /mcp used to open an event stream that never ended, holding a server thread."""
    for method in ("GET", "DELETE", "OPTIONS"):
        response = requests.request(method, web.base + "/mcp", headers={"Accept": "text/event-stream"}, timeout=5)
        message = json_error(response.status_code, {"content-type": response.headers.get("Content-Type", "")},
                             response.content, 405)
        assert response.headers["Allow"] == "POST" and f"{method} is not allowed on /mcp" in message
    answered = requests.post(web.base + "/mcp", json=TOOLS_LIST, headers=MCP_HEADERS, timeout=10)
    assert answered.status_code == 200 and "search_docs" in answered.text


def test_every_error_on_the_api_and_mcp_is_json(web):
    port = web.port
    assert "not found" in json_error(*raw(port, "GET", "/api/no-such-route"), 404)
    assert "not found" in json_error(*raw(port, "GET", "/mcp/anything"), 404)
    assert "unknown crawl" in json_error(*raw(port, "GET", f"/api/crawls/{VALID_UNKNOWN_ID}"), 404)
    status, headers, body = raw(port, "PUT", "/api/crawls")
    assert "PUT is not allowed on /api/crawls" in json_error(status, headers, body, 405)
    assert "POST" in headers["allow"]
    huge = b'{"url": "' + b"a" * (17 * 1024 * 1024) + b'"}'
    assert "at most 16 MB" in json_error(*raw(port, "POST", "/api/crawls", huge,
                                               {"Content-Type": "application/json"}), 413)
    # Over the MCP SDK's 4 MB: it answered in plain text.
    message = json_error(*raw(port, "POST", "/mcp", b'{"pad": "' + b"a" * (5 * 1024 * 1024) + b'"}', MCP_HEADERS), 413)
    assert "at most 4 MB" in message
    # A request line over 64 KB is refused by the HTTP server itself, before the app: it was an HTML page.
    for path in ("/api/crawls?q=" + "a" * 70_000, "/mcp?q=" + "a" * 70_000):
        assert "too long" in json_error(*raw(port, "GET", path), 414)
    assert requests.get(web.base + "/api/crawls", timeout=5).status_code == 200  # still serving


def test_an_unhandled_exception_on_the_api_is_a_json_500(tmp_path):
    """A route that raises: the app's error handler answers `{"error": ...}` with 500, and the
    dashboard's pages keep Flask's own answer."""
    script = textwrap.dedent(f"""
        import json
        from crawler.web import create_app
        app = create_app({{"data_dir": {str(tmp_path / "crawls")!r}, "cpu_workers": 1}})
        @app.get("/api/explode")
        def explode():
            raise RuntimeError("boom")
        @app.get("/explode")
        def explode_page():
            raise RuntimeError("boom")
        client = app.test_client()
        api = client.get("/api/explode")
        page = client.get("/explode")
        print(json.dumps([api.status_code, api.content_type, api.get_data(as_text=True),
                          page.status_code, page.content_type]))
        app.extensions["crawler"].close()
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    status, content_type, body, page_status, page_type = json.loads(done.stdout.strip().splitlines()[-1])
    assert (status, content_type) == (500, "application/json"), body
    assert "internal" in json.loads(body)["error"].lower()
    assert page_status == 500 and page_type.startswith("text/html")


def test_downloads_of_a_site_whose_host_has_a_quote_and_a_semicolon(web):
    http = requests.Session()
    started = http.post(web.base + "/api/crawls", json={"url": 'http://a"b;c.invalid/', "max_retries": 0}, timeout=10)
    assert started.status_code == 202, started.text
    crawl_id = started.json()["crawl_id"]
    wait_until(lambda: http.get(f"{web.base}/api/crawls/{crawl_id}", timeout=5).json()["state"]
               not in ("queued", "running", "discovering", "stopping"), timeout=60, message="the crawl to end")
    for fmt, suffix in (("zip", ".zip"), ("jsonl", ".jsonl"), ("markdown", ".md"), ("llms", "-llms.txt"),
                        ("llms-full", "-llms-full.txt")):
        response = http.get(f"{web.base}/api/crawls/{crawl_id}/download", params={"format": fmt}, timeout=10)
        assert response.status_code == 200, (fmt, response.text[:300])
        value = response.headers["Content-Disposition"]
        assert value.startswith(f'attachment; filename="a_b_c.invalid-{crawl_id}{suffix}"; '), value
        assert parse_options_header(value)[1]["filename"] == f'a"b;c.invalid-{crawl_id}{suffix}', value
