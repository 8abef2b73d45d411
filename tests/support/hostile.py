"""A hostile and broken web site for tests, served on 127.0.0.1.

The index page links to one path per misbehaviour a crawler meets in the wild: resets, stalls,
bodies that trickle forever or never end, compression bombs, truncated bodies, lying or missing
charsets, binary served as HTML, broken markup, empty pages, redirect loops and long chains,
endless link traps (a calendar, session ids in every link), error statuses and a page that makes
extraction raise. Two more links point at other ports of 127.0.0.1: one refuses connections (a
bound socket that never listens) and one never completes a connect (a listening socket whose
accept queue is full), so the connect-level faults are reached without any network.

Every request is counted per path, so tests assert on what the server actually had to serve.

robots.txt misbehaves on request (`robots=`, changeable while the site runs): `None` has none
(404), `"ok"` serves ROBOTS_TEXT, `"endless"` serves ROBOTS_TEXT followed by comment lines that
never end, `"stall"` accepts the request and never answers, `"flaky"` answers 503 to the first
`robots_failures` requests and then serves ROBOTS_TEXT, `"down"` always answers 503.

Run by hand: ``python -m tests.support.hostile --port 8002``.
"""

from __future__ import annotations

import argparse
import gzip
import secrets
import socket
import struct
import threading
import zlib
from functools import cache
from http.server import BaseHTTPRequestHandler

from crawler.engine.urls import canonical_url
from tests.support.site import Site

MB = 1024 * 1024
# Test-only: a page containing this marker makes extraction raise (see crawler/engine/cpu.py), with the
# environment variable CRAWLER_FAULT_EXTRACT_ERROR_MARKER set to it in the worker processes.
EXTRACT_ERROR_MARKER = "MAKE-THE-EXTRACTION-RAISE"
BOMB_INFLATED = 1024 * MB  # every compression bomb inflates to 1 GB
HUGE_BYTES = 15 * MB
CALENDAR_START = "/calendar/2026-01/"

GOOD_TEXT = ("The scheduler hands each request to a worker, which fetches the page, parses it once "
             "and extracts its main content as Markdown before the result is stored. ")


def good_page(title: str, links: str = "", extra: str = "") -> str:
    """A small normal docs page with enough prose for extraction to find main content."""
    body = "".join(f"<p>{GOOD_TEXT * 3}Paragraph {n}.</p>" for n in range(4))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<nav><a href='/'>Home</a></nav><main><article><h1>{title}</h1>{body}{extra}</article></main>"
            f"<aside>{links}</aside></body></html>")


BOMB_HEAD = b"<!doctype html><html><head><title>Bomb</title></head><body><p>"
BOMB_FILL = b" " * MB  # blank space inside a paragraph: HTML by every test a crawler can make


@cache
def gzip_bomb() -> bytes:
    """~1 MB of gzip that inflates to 1 GB of HTML (a paragraph of spaces): 1024 gzip members.

    A single deflate stream cannot do better than about 1:1000, so a 1 GB single-layer bomb is
    1 MB on the wire; concatenated members are valid gzip and cost nothing to build.
    """
    fill = gzip.compress(BOMB_FILL, 9)
    return gzip.compress(BOMB_HEAD, 9) + fill * (BOMB_INFLATED // MB)


@cache
def deflate_bomb() -> bytes:
    """~1 MB of zlib-wrapped deflate that inflates to 1 GB of HTML.

    After a full flush the compressor starts afresh, so the block that encodes 1 MB of spaces is
    the same every time: repeat it, end the stream, append the Adler-32 of the whole.
    """
    compressor = zlib.compressobj(9)
    head = compressor.compress(BOMB_HEAD) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(BOMB_FILL) + compressor.flush(zlib.Z_FULL_FLUSH)
    checksum = zlib.adler32(BOMB_HEAD)
    for _ in range(BOMB_INFLATED // MB):
        checksum = zlib.adler32(BOMB_FILL, checksum)
    final_empty_block = b"\x03\x00"
    return head + block * (BOMB_INFLATED // MB) + final_empty_block + struct.pack(">I", checksum)


@cache
def nested_gzip_bomb() -> bytes:
    """A few KB that inflate to 1 GB: the gzip bomb gzipped again, sent as `gzip, gzip`."""
    return gzip.compress(gzip_bomb(), 9)


# What robots.txt says when it answers: one of the good pages is off limits.
ROBOTS_TEXT = "User-agent: *\nDisallow: /good/2\n"
ROBOTS_MODES = (None, "ok", "endless", "stall", "flaky", "down")

BINARY_BODY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 64


class HostileSite(Site):
    """The site (on the tests' one server class), the two unreachable ports, and a count of what was
    requested."""

    def __init__(self, port: int = 0, trickle_interval: float = 0.2, robots: str | None = None,
                 robots_failures: int = 2) -> None:
        assert robots in ROBOTS_MODES, robots
        self.trickle_interval = trickle_interval
        self.robots = robots
        self.robots_failures = robots_failures
        self.robots_bytes_sent = 0
        self._closing = threading.Event()
        super().__init__(port)
        self._refusing = socket.socket()
        self._refusing.bind(("127.0.0.1", 0))  # bound, never listening: connects are refused
        self.refused_url = f"http://127.0.0.1:{self._refusing.getsockname()[1]}/refused"
        self._blackhole, self._fillers = _full_backlog_listener()
        self.connect_timeout_url = f"http://127.0.0.1:{self._blackhole.getsockname()[1]}/connect-timeout"

    def start(self) -> HostileSite:
        super().start()
        return self

    def stop(self) -> None:
        self._closing.set()
        super().stop()
        for sock in (self._refusing, self._blackhole, *self._fillers):
            sock.close()

    def url(self, path: str) -> str:
        return self.base + path

    def index_links(self) -> list[str]:
        """Every URL the index page links to, absolute, in page order."""
        return [link if link.startswith("http") else self.base + link for link in self._index_paths()]

    def _index_paths(self) -> list[str]:
        return [
            "/good/1", "/good/2", "/good/3",
            self.refused_url, self.connect_timeout_url,
            "/stall", "/reset", "/reset-mid-body", "/trickle", "/slow-headers",
            "/huge", "/huge-stream", "/bomb.gz", "/bomb.deflate", "/bomb-nested.gz", "/bad-gzip",
            "/truncated", "/bad-charset", "/no-charset", "/bad-utf8", "/binary", "/malformed", "/empty",
            "/no-content-type",
            "/loop-a", "/chain/1", CALENDAR_START, f"/session?sid={secrets.token_hex(8)}",
            "/404", "/500", "/extract-raises",
        ]

    # ---- answers ----

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: bytes,
              content_type: str | None = "text/html; charset=utf-8", **headers: str) -> None:
        handler.send_response(status)
        if content_type is not None:
            handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(body)

    def _redirect(self, handler: BaseHTTPRequestHandler, location: str) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def answer(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        send = self._send
        if path == "/":
            links = "".join(f'<li><a href="{link}">{link}</a></li>' for link in self._index_paths())
            return send(handler, 200, good_page("Hostile site", f"<ul>{links}</ul>").encode())
        if path == "/robots.txt" and self.robots is not None:
            return self._robots(handler)
        if path.startswith("/good/"):
            return send(handler, 200, good_page(f"Good page {path.rsplit('/', 1)[1]}").encode())
        if path == "/slow-headers":
            return self._slow_headers(handler)
        if path == "/stall":  # accepts the request, never answers
            self._closing.wait(60)
            return None
        if path == "/reset":  # closes with RST before any response
            return _reset(handler)
        if path == "/reset-mid-body":
            body = good_page("Reset mid-body").encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html; charset=utf-8")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            return _reset(handler)
        if path == "/trickle":
            return self._trickle(handler)
        if path == "/huge":  # announces its size: can be refused before any of the body is read
            return self._stream(handler, HUGE_BYTES, announce=True)
        if path == "/huge-stream":  # no Content-Length: only counting while streaming catches it
            return self._stream(handler, HUGE_BYTES, announce=False)
        if path == "/bomb.gz":
            return send(handler, 200, gzip_bomb(), Content_Encoding="gzip")
        if path == "/bomb.deflate":
            return send(handler, 200, deflate_bomb(), Content_Encoding="deflate")
        if path == "/bomb-nested.gz":
            return send(handler, 200, nested_gzip_bomb(), Content_Encoding="gzip, gzip")
        if path == "/bad-gzip":
            return send(handler, 200, b"\x1f\x8b\x08\x00this is not gzip at all" * 10, Content_Encoding="gzip")
        if path == "/truncated":  # promises more than it sends, then closes
            body = good_page("Truncated").encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html; charset=utf-8")
            handler.send_header("Content-Length", str(len(body) * 2))
            handler.end_headers()
            handler.wfile.write(body)
            handler.wfile.flush()
            handler.close_connection = True
            return None
        if path == "/bad-charset":
            return send(handler, 200, good_page("Bad charset café").encode(), "text/html; charset=foo-bar")
        if path == "/no-charset":
            page = good_page("No charset naïve").replace("<meta charset='utf-8'>", "")
            return send(handler, 200, page.encode("utf-8"), "text/html")
        if path == "/bad-utf8":
            body = good_page("Bad UTF-8").encode().replace(b"Paragraph 1.", b"Paragraph \xff\xfe\xc3\x28 1.")
            return send(handler, 200, body)
        if path == "/binary":
            return send(handler, 200, BINARY_BODY)
        if path == "/malformed":  # no </head>, no <body>, misnested and unclosed tags, stray bytes
            body = ("<html><head><title>Malformed page</title><main><h1>Malformed <b><i>nesting</b></i>"
                    f"<p>{GOOD_TEXT * 3}<div><p>unclosed<table><tr><td>{GOOD_TEXT * 2}<<>>&&;</td></span></p>"
                    f"<p>{GOOD_TEXT * 2}<a href='/good/1'>still a link</a><!-- a comment never closed ").encode()
            return send(handler, 200, body + b"\x00garbage\x01 </html></html>")
        if path == "/empty":
            return send(handler, 200, b"")
        if path == "/no-content-type":
            return send(handler, 200, good_page("No content type").encode(), content_type=None)
        if path == "/loop-a":
            return self._redirect(handler, "/loop-b")
        if path == "/loop-b":
            return self._redirect(handler, "/loop-a")
        if path.startswith("/chain/"):
            number = int(path.rsplit("/", 1)[1])
            if number < 20:
                return self._redirect(handler, f"/chain/{number + 1}")
            return send(handler, 200, good_page("End of the chain").encode())
        if path.startswith("/calendar/"):
            return send(handler, 200, _calendar(path).encode())
        if path.startswith("/session"):
            # Every link carries a fresh session id, in the query and as a path parameter.
            links = (f'<a href="/session?sid={secrets.token_hex(8)}">again</a> '
                     f'<a href="/session;jsessionid={secrets.token_hex(8)}">again</a> '
                     f'<a href="/session?PHPSESSID={secrets.token_hex(8)}&amp;lang=en">again</a>')
            return send(handler, 200, good_page("Session page", links).encode())
        if path == "/500":
            return send(handler, 500, b"<h1>Internal Server Error</h1>")
        if path == "/extract-raises":
            return send(handler, 200, good_page("Extraction raises", extra=f"<p>{EXTRACT_ERROR_MARKER}</p>").encode())
        return send(handler, 404, b"<h1>Not found</h1>")

    def _robots(self, handler: BaseHTTPRequestHandler) -> None:
        mode = self.robots
        if mode == "stall":
            self._closing.wait(60)
            return None
        if mode == "down" or (mode == "flaky" and self.hits["/robots.txt"] <= self.robots_failures):
            return self._send(handler, 503, b"Service Unavailable", "text/plain")
        if mode != "endless":
            return self._send(handler, 200, ROBOTS_TEXT.encode(), "text/plain")
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.end_headers()  # no length: the file lasts until the client hangs up
        line = b"# " + b"padding " * 12 + b"\n"
        block = ROBOTS_TEXT.encode()
        while not self._closing.is_set():
            handler.wfile.write(block)
            self.robots_bytes_sent += len(block)
            block = line * 512
        handler.close_connection = True
        return None

    def _trickle(self, handler: BaseHTTPRequestHandler) -> None:
        """A body that never ends: one byte per interval, each read well within any timeout."""
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.end_headers()  # no length, no chunking: the body lasts until the connection closes
        handler.wfile.write(b"<html><body><p>")
        handler.wfile.flush()
        while not self._closing.wait(self.trickle_interval):
            handler.wfile.write(b"x")
            handler.wfile.flush()

    def _slow_headers(self, handler: BaseHTTPRequestHandler) -> None:
        """Headers that never end: a status line, then one header byte per interval, forever."""
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow: ")
        handler.wfile.flush()
        while not self._closing.wait(self.trickle_interval):
            handler.wfile.write(b"z")
            handler.wfile.flush()
        handler.close_connection = True

    def _stream(self, handler: BaseHTTPRequestHandler, size: int, announce: bool) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        if announce:
            handler.send_header("Content-Length", str(size))
        handler.end_headers()
        chunk = (b"<p>" + b"all work and no play " * 3000 + b"</p>\n")
        sent = 0
        while sent < size and not self._closing.is_set():
            part = chunk[: size - sent]
            handler.wfile.write(part)
            sent += len(part)
        handler.close_connection = True


# What a crawl of the whole site (from the index page, to MAX_DEPTH) must record for each link:
MAX_DEPTH = 3
# path (or named URL) → (status, reason code); every link on the index page is listed.
EXPECTED = {
    "/good/1": ("ok", None), "/good/2": ("ok", None), "/good/3": ("ok", None),
    "refused": ("failed", "connection"), "connect-timeout": ("failed", "timeout"),
    "/stall": ("failed", "timeout"), "/reset": ("failed", "connection"),
    "/reset-mid-body": ("failed", "interrupted"), "/trickle": ("failed", "too_slow"),
    "/slow-headers": ("failed", "too_slow"),
    "/huge": ("failed", "too_large"), "/huge-stream": ("failed", "too_large"),
    "/bomb.gz": ("failed", "too_large"), "/bomb.deflate": ("failed", "too_large"),
    "/bomb-nested.gz": ("failed", "too_large"), "/bad-gzip": ("failed", "bad_encoding"),
    "/truncated": ("failed", "interrupted"), "/bad-charset": ("ok", None), "/no-charset": ("ok", None),
    "/bad-utf8": ("ok", None), "/binary": ("skipped", "binary"), "/malformed": ("ok", None),
    "/empty": ("skipped", "empty"), "/no-content-type": ("ok", None),
    "/loop-a": ("failed", "redirect_loop"), "/chain/1": ("failed", "too_many_redirects"),
    CALENDAR_START: ("ok", None), "/session": ("ok", None),
    "/404": ("failed", "http_error"), "/500": ("failed", "http_error"),
    "/extract-raises": ("failed", "extract_error"),
}


def outcome_key(site: HostileSite, url: str) -> str:
    if url == canonical_url(site.refused_url):
        return "refused"
    if url == canonical_url(site.connect_timeout_url):
        return "connect-timeout"
    return url.removeprefix(site.base)


def _calendar(path: str) -> str:
    """A month page linking to the next month: a trap only the crawl's limits can end."""
    year, month = (int(part) for part in path.rstrip("/").rsplit("/", 1)[1].split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return good_page(f"Calendar {path}", f'<a href="/calendar/{year}-{month:02d}/">Next month</a>')


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of an orderly FIN."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()


def _full_backlog_listener() -> tuple[socket.socket, list[socket.socket]]:
    """A listening socket that never accepts, its queue filled: a new connect gets no answer.

    Linux drops a SYN when the accept queue is full, so the client waits for its connect
    timeout, as it would for a host that has gone away. Fillers are connected until one of them
    no longer completes, which proves the queue is full.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers: list[socket.socket] = []
    for _ in range(16):
        filler = socket.socket()
        filler.settimeout(0.3)
        fillers.append(filler)
        try:
            filler.connect(listener.getsockname())
        except OSError:  # this one is waiting: the queue is full
            return listener, fillers
    raise RuntimeError("could not fill the accept queue of a listening socket")


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the hostile test site on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8002)
    args = parser.parse_args()
    site = HostileSite(port=args.port)
    print(f"serving the hostile site at {site.base}/", flush=True)
    try:
        site.server.serve_forever()
    finally:
        site.stop()


if __name__ == "__main__":
    main()
