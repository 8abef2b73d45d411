"""A webhook receiver the tests run on 127.0.0.1: it records every POST (headers, body, whether the
signature checks out) and answers as the test says: a few 500s first, slowly, with a redirect, or
with a body that never ends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from crawler.service.webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature_matches
from tests.support.server import wait_until
from tests.support.site import QuietServer


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def event(self) -> str | None:
        return self.headers.get(EVENT_HEADER)

    @property
    def delivery(self) -> str | None:
        return self.headers.get(DELIVERY_HEADER)

    def signed_with(self, secret: str) -> bool:
        return signature_matches(secret, self.body, self.headers.get(SIGNATURE_HEADER))


class Receiver:
    """Started at once; `posts` is every POST received, in order. `fail_first[event] = n`: the first
    n posts of that event answer 500. `delay`: seconds before answering. `redirect`: answer 302 to
    this URL. `endless`: answer 200 with a body that trickles for a minute."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.fail_first: dict[str, int] = {}
        self.delay = 0.0
        self.redirect: str | None = None
        self.endless = False
        self._lock = threading.Lock()
        self._failed: dict[str, int] = {}
        self._server = QuietServer(("127.0.0.1", 0), self._handler_class())
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def of(self, event: str) -> list[Post]:
        with self._lock:
            return [post for post in self.posts if post.event == event]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30, message: str = "") -> Any:
        return wait_until(predicate, timeout=timeout, interval=0.05, message=message)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        post = Post(handler.path, dict(handler.headers.items()), body, time.monotonic())
        with self._lock:
            self.posts.append(post)
            event = post.event or ""
            failing = self._failed.get(event, 0) < self.fail_first.get(event, 0)
            if failing:
                self._failed[event] = self._failed.get(event, 0) + 1
        if self.delay:
            time.sleep(self.delay)
        if failing:
            handler.send_response(500)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        elif self.redirect:
            handler.send_response(302)
            handler.send_header("Location", self.redirect)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        elif self.endless:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/octet-stream")
            handler.end_headers()
            try:
                for _ in range(600):
                    handler.wfile.write(b"x" * 65536)
                    handler.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass  # the sender hung up, as it should
        else:
            handler.send_response(200)
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                receiver._answer(self)

        return Handler
