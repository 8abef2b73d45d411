"""A real documentation site, served from a local folder: Django 3.2's documentation as Debian
ships it (package `python-django-doc`, built with Sphinx and Django's own `djangodocs` theme:
~690 HTML pages, API references, topic guides, release notes and the highlighted source of the
modules). Its pages have no content container the crawler knows, so trafilatura chooses the
content: the expensive case for both crawlers.

    python -m bench.realsite [--port 8002]      # fetch it (first time) and serve it

The pages are fetched with `apt-get download` and unpacked with `dpkg-deb -x` (no root, nothing
installed) into bench/.cache/ the first time; a Debian or Ubuntu machine has both commands.
`CRAWLER_BENCH_REAL_SITE=DIR` uses another folder of HTML pages instead (e.g. a `wget --mirror`).
"""

from __future__ import annotations

import argparse
import mimetypes
import os
import subprocess
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
PACKAGE = "python-django-doc"
NAME = "Django 3.2 documentation (Debian's python-django-doc, Sphinx)"
HTML_SUBDIR = Path("usr/share/doc/python-django-doc/html")


def site_folder() -> Path:
    """The folder of the real site's HTML pages, fetched the first time."""
    chosen = os.environ.get("CRAWLER_BENCH_REAL_SITE")
    if chosen:
        return Path(chosen)
    target = CACHE / PACKAGE
    html = target / HTML_SUBDIR
    if (html / "index.html").is_file():
        return html
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        try:
            subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(f"could not fetch {PACKAGE} with apt-get download ({exc}); run `apt-get update` "
                             "first, or set CRAWLER_BENCH_REAL_SITE to a folder of HTML pages") from None
        package = next(Path(tmp).glob("*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(package), str(target)], check=True)
    return html


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # else every answer waits 40 ms for a delayed ACK
    protocol_version = "HTTP/1.1"
    root: Path
    cache: dict[str, tuple[bytes, str] | None] = {}

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        found = self.cache.get(path, False)
        if found is False:
            found = self._read(path)
            self.cache[path] = found
        if found is None:
            body, kind, status = b"not found", "text/plain", 404
        else:
            (body, kind), status = found, 200
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read(self, path: str) -> tuple[bytes, str] | None:
        target = (self.root / path.lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(self.root) or not target.is_file():
            return None
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind == "text/html":
            kind += "; charset=utf-8"
        return target.read_bytes(), kind


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return None


def serve(folder: Path, port: int) -> None:
    handler = type("Handler", (_Handler,), {"root": folder.resolve(), "cache": {}})
    server = _Server(("127.0.0.1", port), handler)
    print(f"serving {folder} at http://127.0.0.1:{port}/", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--folder", help="serve this folder rather than the Django documentation")
    args = parser.parse_args()
    serve(Path(args.folder) if args.folder else site_folder(), args.port)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
