"""REST task API and the dashboard page. Every route is owner-scoped through the session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, render_template, request, send_file, stream_with_context
from werkzeug.exceptions import HTTPException

from .. import __version__, offline, reader
from ..config import ConfigError
from ..events import State
from ..crawls.records import DOWNLOAD_FORMATS
from ..crawls.service import NoChangeReport, NotRefreshable
from ..crawls import CRAWL_ID_PATTERN, CrawlRecord, NotResumable, StoreUnavailable, UnknownCrawl, download_links
from ..llms import LLMS_FULL_TXT, LLMS_TXT, build_index, current_file, iter_llms_full_text, render_llms_txt
from ..search import IndexUnavailable, QueryError
from ..store import iter_manifest
from .app import MAX_REQUEST_BYTES, services
from .auth import request_is_authorised
from .sessions import ensure_session_id

blueprint = Blueprint("crawler", __name__)


def error(message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": message}), status


@blueprint.before_app_request
def _session() -> None:
    ensure_session_id()


def unknown_crawl_message(crawl_id: str) -> str:
    """The same words for a malformed id, a missing crawl and someone else's crawl."""
    return f"unknown crawl {crawl_id!r}"


@blueprint.before_app_request
def _valid_crawl_id() -> tuple[Response, int] | None:
    """A crawl id names a folder in the data dir: anything but the exact id shape (../, %2e%2e,
    an absolute path, a backslash...) is refused here, before any lookup or file access."""
    crawl_id = (request.view_args or {}).get("crawl_id")
    if crawl_id is not None and not (isinstance(crawl_id, str) and CRAWL_ID_PATTERN.fullmatch(crawl_id)):
        return error(unknown_crawl_message(str(crawl_id)[:100]), 404)
    return None


@blueprint.app_errorhandler(UnknownCrawl)
def _unknown_crawl(exc: UnknownCrawl) -> tuple[Response, int]:
    return error(str(exc.args[0]) if exc.args else "unknown crawl", 404)


@blueprint.app_errorhandler(StoreUnavailable)
def _store_unavailable(exc: StoreUnavailable) -> tuple[Response, int]:
    return error(str(exc), 503)


@blueprint.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    if request.path.startswith("/api/"):
        if exc.code == 413:
            return error(f"the request body is too large: at most {MAX_REQUEST_BYTES // (1024 * 1024)} MB", 413)
        return error(exc.description or exc.name, exc.code or 500)
    return exc


@blueprint.get("/")
def dashboard() -> str:
    return render_template("crawler_interface.html", version=__version__)


@blueprint.get("/api/health")
def health() -> Response:
    """Open even when a token is required (a load balancer's probe): then only "ok" until authorised."""
    crawler = services()
    if not request_is_authorised():
        return jsonify({"status": "ok"})
    return jsonify({"status": "ok", "version": __version__, **crawler.health()})


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus text format; the access token applies as for the REST API."""
    body, content_type = services().metrics.render()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


@blueprint.get("/api/session")
def session_info() -> Response:
    """The caller's own session id: what `python -m crawler --owner` takes to list a terminal
    crawl in this browser's history."""
    return jsonify({"session_id": ensure_session_id()})


@blueprint.get("/api/system")
def system() -> Response:
    """This server's processes (memory, CPU), crawl slots and queues: the caller's and all."""
    return jsonify(services().system(ensure_session_id()))


def _start(kind: str) -> tuple[CrawlRecord | None, tuple[Response, int] | None]:
    """Validate the JSON body and start a crawl or discovery: (record, None) or (None, error)."""
    example = "e.g. {\"url\": \"https://docs.example.org/\"}"
    if not request.is_json:
        return None, error(f"the request body must be a JSON object with the {kind} settings, sent with "
                           f"Content-Type: application/json (got {request.mimetype or 'no content type'}), "
                           f"{example}", 400)
    data = request.get_json(silent=True)
    if data is None:
        return None, error(f"the request body must be a JSON object with the {kind} settings, {example}; "
                           "it is not valid JSON", 400)
    try:
        return services().crawls.start(ensure_session_id(), data, kind=kind), None
    except ConfigError as exc:
        return None, error(str(exc), 400)


@blueprint.post("/api/crawls")
def start_crawl() -> tuple[Response, int]:
    record, failure = _start("crawl")
    if record is None:
        return failure  # type: ignore[return-value]
    return jsonify({"crawl_id": record.crawl_id, "state": record.state.value,
                    "links": {"self": f"/api/crawls/{record.crawl_id}",
                              "stop": f"/api/crawls/{record.crawl_id}/stop",
                              **download_links(record.crawl_id)}}), 202


@blueprint.post("/api/discover")
def start_discovery() -> tuple[Response, int]:
    record, failure = _start("discovery")
    if record is None:
        return failure  # type: ignore[return-value]
    return jsonify({"discovery_id": record.crawl_id, "crawl_id": record.crawl_id,
                    "state": record.state.value,
                    "links": {"self": f"/api/discover/{record.crawl_id}",
                              "stop": f"/api/crawls/{record.crawl_id}/stop"}}), 202


@blueprint.get("/api/discover/<crawl_id>")
def discovery_result(crawl_id: str) -> Response:
    return jsonify(services().crawls.discovered(ensure_session_id(), crawl_id))


@blueprint.get("/api/crawls")
def list_crawls() -> Response:
    return jsonify({"crawls": [r.row() for r in services().crawls.list(ensure_session_id())]})


@blueprint.get("/api/crawls/<crawl_id>")
def crawl_detail(crawl_id: str) -> Response:
    return jsonify(services().crawls.detail(ensure_session_id(), crawl_id))


@blueprint.post("/api/crawls/<crawl_id>/stop")
def stop_crawl(crawl_id: str) -> tuple[Response, int]:
    state = services().crawls.stop(ensure_session_id(), crawl_id)
    if state == State.STOPPING:
        return jsonify({"ok": True, "state": state.value}), 202
    return jsonify({"ok": True, "state": state.value, "message": "the crawl had already ended"}), 200


@blueprint.post("/api/crawls/<crawl_id>/resume")
def resume_crawl(crawl_id: str) -> tuple[Response, int]:
    """Continue a stopped or interrupted crawl; pages already stored are not fetched again."""
    try:
        record = services().crawls.resume(ensure_session_id(), crawl_id)
    except NotResumable as exc:
        return error(str(exc), 409)
    except ConfigError as exc:
        return error(str(exc), 400)
    return jsonify({"ok": True, "crawl_id": record.crawl_id, "state": record.state.value}), 202


@blueprint.post("/api/crawls/<crawl_id>/refresh")
def refresh_crawl(crawl_id: str) -> tuple[Response, int]:
    """A new crawl with the same settings, reusing the pages that did not change (see
    docs/events.md "Refresh"); 409 while the crawl runs, for a discovery, or with no page saved."""
    try:
        record = services().crawls.refresh(ensure_session_id(), crawl_id)
    except NotRefreshable as exc:
        return error(str(exc), 409)
    except ConfigError as exc:
        return error(str(exc), 400)
    return jsonify({"ok": True, "crawl_id": record.crawl_id, "refresh_of": crawl_id, "state": record.state.value,
                    "links": {"self": f"/api/crawls/{record.crawl_id}",
                              "changes": f"/api/crawls/{record.crawl_id}/changes"}}), 202


@blueprint.get("/api/crawls/<crawl_id>/changes")
def crawl_changes(crawl_id: str) -> tuple[Response, int] | Response:
    """What a refresh found changed since the crawl it refreshes (changes.json)."""
    try:
        return jsonify(services().crawls.changes(ensure_session_id(), crawl_id))
    except NotRefreshable as exc:
        return error(str(exc), 409)
    except NoChangeReport as exc:
        return error(str(exc), 404)


@blueprint.delete("/api/crawls/<crawl_id>")
def delete_crawl(crawl_id: str) -> Response:
    services().crawls.delete(ensure_session_id(), crawl_id)
    if services().indexer is not None:
        services().indexer.wake()  # its pages leave the search index now, not at the next pass
    return jsonify({"ok": True})


@blueprint.route("/mcp", methods=["GET", "POST", "DELETE"])
def mcp_endpoint() -> Any:
    """MCP over streamable HTTP (crawler/mcp/http.py), behind the same token rule as the REST API
    (the app's before_request hook), for the crawls of the caller's session only."""
    endpoint = services().mcp
    if endpoint is None:
        return error("MCP over HTTP is served in the threading server mode only; use python -m crawler.mcp", 501)
    request.environ["crawler.owner"] = ensure_session_id()
    return endpoint


SEARCH_PER_PAGE_MAX = 50


def _positive_int(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name} must be a whole number from 1 to {maximum}, got {raw[:40]!r}") from None
    if not 1 <= value <= maximum:
        raise QueryError(f"{name} must be a whole number from 1 to {maximum}, got {value}")
    return value


@blueprint.get("/api/search")
def search() -> tuple[Response, int] | Response:
    """Full-text search over the caller's own crawls (all of them, or `crawl=<id>`), paged."""
    crawler = services()
    owner = ensure_session_id()
    query = request.args.get("q", "")
    try:
        page = _positive_int("page", 1, 10_000)
        per_page = _positive_int("per_page", 10, SEARCH_PER_PAGE_MAX)
        crawl_id = request.args.get("crawl")
        if crawl_id:
            if not CRAWL_ID_PATTERN.fullmatch(crawl_id):
                return error(unknown_crawl_message(crawl_id[:100]), 404)
            crawl_ids = [crawler.crawls.get(owner, crawl_id).crawl_id]
        else:
            crawl_ids = [record.crawl_id for record in crawler.crawls.list(owner)]
        if crawler.search is None:
            return error("search is not available on this server", 503)
        found = crawler.search.search(query, crawl_ids, limit=per_page, offset=(page - 1) * per_page)
    except QueryError as exc:
        return error(str(exc), 400)
    except IndexUnavailable as exc:
        return error(str(exc), 503)
    return jsonify({"query": query, "total": found.total, "page": page, "per_page": per_page,
                    "results": [hit.as_dict() for hit in found.hits]})


@blueprint.app_errorhandler(reader.ReaderError)
def _reader_error(exc: reader.ReaderError) -> tuple[Response, int]:
    return error(str(exc), exc.status)


@blueprint.get("/api/crawls/<crawl_id>/tree")
def reader_tree(crawl_id: str) -> Response:
    """The crawl's saved pages, in crawl order and paged, for the dashboard's reader."""
    record = services().crawls.get(ensure_session_id(), crawl_id)
    offset = reader.whole_number("offset", request.args.get("offset"), 0, 0, 10**9)
    limit = reader.whole_number("limit", request.args.get("limit"), reader.TREE_LIMIT, 1, reader.TREE_LIMIT)
    answer = reader.tree_answer(services().crawls.crawl_dir(record), offset, limit)
    return jsonify({"crawl_id": record.crawl_id, "state": record.state.value, **answer})


@blueprint.get("/api/crawls/<crawl_id>/page")
def reader_page(crawl_id: str) -> Response:
    """One saved page of the crawl: its Markdown and that Markdown rendered to safe HTML."""
    record = services().crawls.get(ensure_session_id(), crawl_id)
    offset = reader.whole_number("offset", request.args.get("offset"), 0, 0, 1 << 40)
    answer = reader.page_answer(services().crawls.crawl_dir(record), request.args.get("url"), offset)
    return jsonify({"crawl_id": record.crawl_id, **answer})


@blueprint.get("/api/crawls/<crawl_id>/download")
def download(crawl_id: str) -> Any:
    record = services().crawls.get(ensure_session_id(), crawl_id)
    fmt = request.args.get("format", "zip")
    if fmt not in DOWNLOAD_FORMATS:
        return error(f"format must be one of {', '.join(DOWNLOAD_FORMATS)}, got {fmt!r}", 400)
    stem = _download_stem(record)
    crawl_dir = services().crawls.crawl_dir(record)
    if fmt == "jsonl":
        return Response(stream_with_context(_manifest_lines(crawl_dir)), mimetype="application/x-ndjson",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.jsonl"'})
    if fmt == "markdown":
        return Response(stream_with_context(_combined_markdown(crawl_dir)), mimetype="text/markdown",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.md"'})
    if fmt in ("llms", "llms-full"):
        return _llms_download(crawl_dir, fmt, stem)
    archive = _build_zip(crawl_dir, stem)
    return send_file(archive, mimetype="application/zip", as_attachment=True, download_name=f"{stem}.zip")


def _download_stem(record: CrawlRecord) -> str:
    host = (urlsplit(record.config.url).hostname or "site").replace(":", "_")
    return f"{host}-{record.crawl_id}"


def _llms_download(crawl_dir: Path, fmt: str, stem: str) -> Any:
    """llms.txt or llms-full.txt: the file in the crawl folder when it is up to date with the
    manifest, else generated from the folder as it is now (llms-full.txt streamed page by page)."""
    name = LLMS_TXT if fmt == "llms" else LLMS_FULL_TXT
    download_name = f"{stem}-{name}"
    mimetype = "text/plain"
    headers = {"Content-Disposition": f'attachment; filename="{download_name}"'}
    stored = current_file(crawl_dir, name)
    if stored is not None:
        response = send_file(stored, mimetype=mimetype)
        response.headers.update(headers)
        return response
    if fmt == "llms":
        return Response(render_llms_txt(build_index(crawl_dir)), mimetype=mimetype, headers=headers)
    return Response(stream_with_context(iter_llms_full_text(crawl_dir)), mimetype=mimetype, headers=headers)


def _manifest_lines(crawl_dir: Path) -> Iterator[str]:
    for entry in iter_manifest(crawl_dir):
        yield json.dumps(entry, ensure_ascii=False) + "\n"


def _combined_markdown(crawl_dir: Path) -> Iterator[str]:
    """All saved pages in crawl order, each under its own title heading (crawler/offline.py)."""
    return offline.combined_markdown(crawl_dir)


def _build_zip(crawl_dir: Path, stem: str) -> Any:
    """The zip, browsable offline once unpacked, with llms.txt and llms-full.txt (crawler/offline.py)."""
    return offline.build_zip(crawl_dir, stem)
