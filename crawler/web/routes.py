"""REST task API and the dashboard page. Every route is owner-scoped through the session."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, jsonify, render_template, request, send_file, stream_with_context
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from crawler import __version__
from crawler.engine.config import ConfigError
from crawler.engine.events import CrawlKind, State
from crawler.folder.paths import is_crawl_id, markdown_file
from crawler.folder.reader import iter_manifest, site_files
from crawler.outputs import browse as reader
from crawler.outputs import exports
from crawler.outputs.llms import (
    LLMS_FULL_TXT,
    LLMS_TXT,
    build_index,
    current_file,
    iter_llms_full_text,
    markdown_name,
    render_llms_txt,
)
from crawler.outputs.search import SECTION_TEXT_CHARS, IndexUnavailable, QueryError, current_crawls
from crawler.service import CrawlRecord, download_links
from crawler.service.errors import NoChangeReport, NotRefreshable, NotResumable, StoreUnavailable, UnknownCrawl
from crawler.service.records import DOWNLOAD_FORMATS, SITE_DOWNLOAD_FORMATS
from crawler.web.app import MAX_REQUEST_BYTES
from crawler.web.auth import request_is_authorised
from crawler.web.extensions import extension
from crawler.web.keys import request_key_id
from crawler.web.sessions import ensure_session_id, request_api_key

blueprint = Blueprint("crawler", __name__)


FIRECRAWL_PREFIX = "/v2/"  # Firecrawl's API (crawler/web/firecrawl.py): its errors carry `"success": false`


def error(message: str, status: int) -> tuple[Response, int]:
    if request.path.startswith(FIRECRAWL_PREFIX):
        return jsonify({"success": False, "error": message}), status
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
    if crawl_id is not None and not is_crawl_id(crawl_id):
        return error(unknown_crawl_message(str(crawl_id)[:100]), 404)
    return None


@blueprint.app_errorhandler(UnknownCrawl)
def _unknown_crawl(exc: UnknownCrawl) -> tuple[Response, int]:
    return error(str(exc.args[0]) if exc.args else "unknown crawl", 404)


@blueprint.app_errorhandler(StoreUnavailable)
def _store_unavailable(exc: StoreUnavailable) -> tuple[Response, int]:
    return error(str(exc), 503)


def answers_json(path: str) -> bool:
    """The paths whose every answer, errors included, is JSON (docs/events.md "REST")."""
    return (path.startswith("/api/") or path == "/mcp" or path.startswith("/mcp/")
            or path.startswith(FIRECRAWL_PREFIX))


@blueprint.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    """404, 405, 413, 500 (an unhandled exception reaches here as InternalServerError)... on the
    API and /mcp: `{"error": ...}`, keeping the exception's headers (405's Allow)."""
    if not answers_json(request.path):
        return exc
    code = exc.code or 500
    if code == 413:
        message = f"the request body is too large: at most {MAX_REQUEST_BYTES // (1024 * 1024)} MB"
    elif code == 405:
        allowed = exc.valid_methods if isinstance(exc, MethodNotAllowed) else None
        message = (f"{request.method} is not allowed on {request.path}"
                   + (f": use {', '.join(sorted(allowed))}" if allowed else ""))
    else:
        message = exc.description or exc.name
    response, status = error(message, code)
    for name, value in exc.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response, status


@blueprint.get("/")
def dashboard() -> str:
    return render_template("crawler_interface.html", version=__version__)


@blueprint.get("/api/health")
def health() -> Response:
    """Open even when a token is required (a load balancer's probe): then only "ok" until authorised."""
    crawler = extension()
    if not request_is_authorised():
        return jsonify({"status": "ok"})
    return jsonify({"status": "ok", "version": __version__, **crawler.health()})


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus text format; the access token applies as for the REST API."""
    body, content_type = extension().metrics.render()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


@blueprint.get("/api/session")
def session_info() -> Response:
    """The caller's own session id: what `crawler --owner` takes to list a terminal
    crawl in this browser's history; with the key it acts with, if any (crawler/web/keys.py)."""
    key = request_api_key()
    return jsonify({"session_id": ensure_session_id(),
                    "key": {"id": key.key_id, "name": key.name} if key is not None else None})


@blueprint.get("/api/system")
def system() -> Response:
    """This server's processes (memory, CPU), crawl slots and queues: the caller's and all."""
    return jsonify(extension().system(ensure_session_id()))


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
        return extension().crawls.start(ensure_session_id(), data, kind=kind), None
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
    return jsonify(extension().crawls.discovered(ensure_session_id(), crawl_id))


@blueprint.get("/api/crawls")
def list_crawls() -> Response:
    return jsonify({"crawls": [r.row() for r in extension().crawls.list(ensure_session_id())]})


@blueprint.get("/api/crawls/<crawl_id>")
def crawl_detail(crawl_id: str) -> Response:
    return jsonify(extension().crawls.detail(ensure_session_id(), crawl_id))


@blueprint.post("/api/crawls/<crawl_id>/stop")
def stop_crawl(crawl_id: str) -> tuple[Response, int]:
    state = extension().crawls.stop(ensure_session_id(), crawl_id)
    if state == State.STOPPING:
        return jsonify({"ok": True, "state": state.value}), 202
    return jsonify({"ok": True, "state": state.value, "message": "the crawl had already ended"}), 200


@blueprint.post("/api/crawls/<crawl_id>/resume")
def resume_crawl(crawl_id: str) -> tuple[Response, int]:
    """Continue a stopped or interrupted crawl; pages already stored are not fetched again."""
    try:
        record = extension().crawls.resume(ensure_session_id(), crawl_id)
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
        record = extension().crawls.refresh(ensure_session_id(), crawl_id)
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
        return jsonify(extension().crawls.changes(ensure_session_id(), crawl_id))
    except NotRefreshable as exc:
        return error(str(exc), 409)
    except NoChangeReport as exc:
        return error(str(exc), 404)


@blueprint.delete("/api/crawls/<crawl_id>")
def delete_crawl(crawl_id: str) -> Response:
    extension().crawls.delete(ensure_session_id(), crawl_id)
    indexer = extension().indexer
    if indexer is not None:
        indexer.wake()  # its pages leave the search index now, not at the next pass
    return jsonify({"ok": True})


MCP_MAX_BODY_MB = 4  # the MCP SDK's limit on a request body


# POST only: the transport is stateless with JSON answers, so there is no event stream to GET
# (which would hold a server thread open for ever) and no MCP session to DELETE; both answer 405
# with `Allow: POST`, as the streamable HTTP transport lets a server do.
@blueprint.route("/mcp", methods=["POST"], provide_automatic_options=False)
def mcp_endpoint() -> Any:
    """MCP over streamable HTTP (crawler/outputs/mcp/http.py), behind the same token rule as the REST API
    (the app's before_request hook), for the crawls of the caller's session only."""
    endpoint = extension().mcp
    if endpoint is None:
        return error("MCP over HTTP is served in the threading server mode only; use crawler-mcp", 501)
    request.environ["crawler.owner"] = ensure_session_id()
    # The crawl tools (crawl_site, refresh_site, crawl_status) for a caller with an API key only
    # (crawler.outputs.mcp.http.CRAWLS_KEY; the MCP SDK is loaded on the first /mcp request, not here).
    request.environ["crawler.mcp_crawls"] = request_key_id() is not None
    response = Response.force_type(endpoint, request.environ)
    if response.status_code >= 400 and response.mimetype != "application/json":
        # The SDK's few plain-text answers (a body over its limit...): JSON like every other error here.
        text = response.get_data(as_text=True).strip()[:500] or response.status
        response.close()  # ends the request on the transport's side too
        if response.status_code == 413:
            return error(f"the request body is too large: at most {MCP_MAX_BODY_MB} MB on /mcp", 413)
        return error(text, response.status_code)
    return response


SEARCH_PER_PAGE_MAX = 50
SEARCH_TEXT_CHARS = 600  # of each hit's section text, unless text_chars asks for more (or none)


def _positive_int(name: str, default: int, maximum: int, minimum: int = 1) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name} must be a whole number from {minimum} to {maximum}, got {raw[:40]!r}") from None
    if not minimum <= value <= maximum:
        raise QueryError(f"{name} must be a whole number from {minimum} to {maximum}, got {value}")
    return value


@blueprint.get("/api/search")
def search() -> tuple[Response, int] | Response:
    """Full-text search over the caller's own crawls (the current crawl of each site, or `crawl=<id>`), paged."""
    crawler = extension()
    owner = ensure_session_id()
    query = request.args.get("q", "")
    try:
        page = _positive_int("page", 1, 10_000)
        per_page = _positive_int("per_page", 10, SEARCH_PER_PAGE_MAX)
        text_chars = _positive_int("text_chars", SEARCH_TEXT_CHARS, SECTION_TEXT_CHARS, minimum=0)
        crawl_id = request.args.get("crawl")
        if crawl_id:
            if not is_crawl_id(crawl_id):
                return error(unknown_crawl_message(crawl_id[:100]), 404)
            crawl_ids = [crawler.crawls.get(owner, crawl_id).crawl_id]
        else:
            # A discovery saves no pages: it never stands for its site (a crawl of it would hide).
            crawl_ids = current_crawls((record.crawl_id, record.config.url, record.state.value, record.created_at)
                                       for record in crawler.crawls.list(owner) if record.kind == CrawlKind.CRAWL)
        if crawler.search is None:
            return error("search is not available on this server", 503)
        found = crawler.search.search(query, crawl_ids, limit=per_page, offset=(page - 1) * per_page)
    except QueryError as exc:
        return error(str(exc), 400)
    except IndexUnavailable as exc:
        return error(str(exc), 503)
    return jsonify({"query": query, "total": found.total, "page": page, "per_page": per_page,
                    "results": [hit.as_dict(text_chars) for hit in found.hits]})


@blueprint.app_errorhandler(reader.ReaderError)
def _reader_error(exc: reader.ReaderError) -> tuple[Response, int]:
    return error(str(exc), exc.status)


@blueprint.get("/api/crawls/<crawl_id>/tree")
def reader_tree(crawl_id: str) -> Response:
    """The crawl's saved pages, in crawl order and paged, for the dashboard's reader."""
    record = extension().crawls.get(ensure_session_id(), crawl_id)
    offset = reader.whole_number("offset", request.args.get("offset"), 0, 0, 10**9)
    limit = reader.whole_number("limit", request.args.get("limit"), reader.TREE_LIMIT, 1, reader.TREE_LIMIT)
    answer = reader.tree_answer(extension().crawls.crawl_dir(record), offset, limit)
    return jsonify({"crawl_id": record.crawl_id, "state": record.state.value, **answer})


@blueprint.get("/api/crawls/<crawl_id>/page")
def reader_page(crawl_id: str) -> Response:
    """One saved page of the crawl: its Markdown and that Markdown rendered to safe HTML."""
    record = extension().crawls.get(ensure_session_id(), crawl_id)
    offset = reader.whole_number("offset", request.args.get("offset"), 0, 0, 1 << 40)
    answer = reader.page_answer(extension().crawls.crawl_dir(record), request.args.get("url"), offset)
    return jsonify({"crawl_id": record.crawl_id, **answer})


@blueprint.get("/api/crawls/<crawl_id>/md/<path:name>")
def page_markdown(crawl_id: str, name: str) -> Any:
    """A saved page's Markdown at a stable URL (its file below pages/: `md/docs/guide/index.md`),
    or `md/llms.txt`: the crawl's llms.txt with every item pointing at those URLs."""
    record = extension().crawls.get(ensure_session_id(), crawl_id)
    crawl_dir = extension().crawls.crawl_dir(record)
    if name == LLMS_TXT:
        base = request.base_url[: -len(LLMS_TXT)]
        with build_index(crawl_dir) as index:
            text = render_llms_txt(index, link=lambda page: base + quote(markdown_name(page)))
        return Response(text, mimetype="text/plain")
    file = markdown_file(crawl_dir, name)
    if file is None:
        return error(f"this crawl has no saved page {name[:200]!r}: md/{LLMS_TXT} lists its pages", 404)
    return send_file(file, mimetype="text/markdown")


@blueprint.get("/api/crawls/<crawl_id>/download")
def download(crawl_id: str) -> Any:
    record = extension().crawls.get(ensure_session_id(), crawl_id)
    fmt = request.args.get("format", "zip")
    if fmt not in DOWNLOAD_FORMATS and fmt not in SITE_DOWNLOAD_FORMATS:
        return error(f"format must be one of {', '.join((*DOWNLOAD_FORMATS, *SITE_DOWNLOAD_FORMATS))}, "
                     f"got {str(fmt)[:100]!r}", 400)
    stem = _download_stem(record)
    crawl_dir = extension().crawls.crawl_dir(record)
    if fmt in SITE_DOWNLOAD_FORMATS:
        return _site_download(crawl_dir, SITE_DOWNLOAD_FORMATS[fmt], stem)
    if fmt == "jsonl":
        return Response(stream_with_context(_manifest_lines(crawl_dir)), mimetype="application/x-ndjson",
                        headers=attachment(f"{stem}.jsonl"))
    if fmt == "markdown":
        return Response(stream_with_context(_combined_markdown(crawl_dir)), mimetype="text/markdown",
                        headers=attachment(f"{stem}.md"))
    if fmt in ("llms", "llms-full"):
        return _llms_download(crawl_dir, fmt, stem)
    archive = _build_zip(crawl_dir, stem)
    response = send_file(archive, mimetype="application/zip")
    response.headers.update(attachment(f"{stem}.zip"))
    return response


_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")
_CONTROL_OR_SLASH = re.compile(r"[\x00-\x1f\x7f/\\]")


def attachment(filename: str) -> dict[str, str]:
    """The Content-Disposition of every download (RFC 6266). The name holds the crawled host
    name, which may contain a quote, a semicolon, a backslash or non-ASCII letters: `filename`
    gets an ASCII fallback where each other character is `_`, and when that differs from the
    name, `filename*=UTF-8''...` (RFC 5987/8187, percent-encoded) carries the name itself."""
    filename = _CONTROL_OR_SLASH.sub("_", filename)
    fallback = _UNSAFE_IN_FILENAME.sub("_", filename).lstrip(".") or "download"
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return {"Content-Disposition": value}


def _download_stem(record: CrawlRecord) -> str:
    host = (urlsplit(record.config.url).hostname or "site").replace(":", "_")
    return f"{host}-{record.crawl_id}"


def _llms_download(crawl_dir: Path, fmt: str, stem: str) -> Any:
    """llms.txt or llms-full.txt: the file in the crawl folder when it is up to date with the
    manifest, else generated from the folder as it is now (llms-full.txt streamed page by page)."""
    name = LLMS_TXT if fmt == "llms" else LLMS_FULL_TXT
    download_name = f"{stem}-{name}"
    mimetype = "text/plain"
    headers = attachment(download_name)
    stored = current_file(crawl_dir, name)
    if stored is not None:
        response = send_file(stored, mimetype=mimetype)
        response.headers.update(headers)
        return response
    if fmt == "llms":
        with build_index(crawl_dir) as index:
            return Response(render_llms_txt(index), mimetype=mimetype, headers=headers)
    return Response(stream_with_context(iter_llms_full_text(crawl_dir)), mimetype=mimetype, headers=headers)


def _site_download(crawl_dir: Path, name: str, stem: str) -> Any:
    """The site's own llms.txt or llms-full.txt as the crawl fetched it (bytes as they came, sent
    as plain text and never rendered), or 404 when the site published none."""
    kept = site_files(crawl_dir).get(name)
    if kept is None:
        return error(f"the site published no {name} when it was crawled (the crawl's own is format="
                     f"{'llms' if name == LLMS_TXT else 'llms-full'})", 404)
    response = send_file(kept["file"], mimetype="text/plain")
    response.headers.update(attachment(f"{stem}-site-{name}"))
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _manifest_lines(crawl_dir: Path) -> Iterator[str]:
    for entry in iter_manifest(crawl_dir):
        yield json.dumps(entry, ensure_ascii=False) + "\n"


def _combined_markdown(crawl_dir: Path) -> Iterator[str]:
    """All saved pages in crawl order, each under its own title heading (crawler/outputs/exports.py)."""
    return exports.combined_markdown(crawl_dir)


def _build_zip(crawl_dir: Path, stem: str) -> Any:
    """The zip, browsable offline once unpacked, with llms.txt and llms-full.txt (crawler/outputs/exports.py)."""
    return exports.build_zip(crawl_dir, stem)
