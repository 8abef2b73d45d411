"""Firecrawl's v2 API: `POST /v2/scrape`, `POST /v2/crawl`, `GET` and `DELETE /v2/crawl/<id>`,
`POST /v2/map` (docs/api.md "Firecrawl-compatible API").

Thin, like every route here: the bodies are translated into crawl settings by
crawler/service/firecrawl.py, the crawls are started and read through the crawl service, and the
answers are built from the crawl folder by crawler/outputs/firecrawl.py. A crawl started here is
an ordinary crawl of the caller's session: in the dashboard, resumable, searchable, in MCP.
Answers have Firecrawl's shapes: `{"success": true, ...}`, errors `{"success": false, "error"}`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import BadRequest

from crawler.engine.config import ConfigError
from crawler.engine.events import CrawlKind, PageStatus, State
from crawler.folder.paths import is_crawl_id
from crawler.outputs import firecrawl as documents
from crawler.service import CrawlRecord
from crawler.service import firecrawl as translate
from crawler.service.errors import QueueFull, UnknownCrawl
from crawler.web.extensions import extension
from crawler.web.routes import unknown_crawl_message
from crawler.web.sessions import current_session_id, session_made_now

PREFIX = "/v2"
blueprint = Blueprint("firecrawl", __name__, url_prefix=PREFIX)
ENDPOINTS = "POST /v2/scrape, POST /v2/crawl, GET /v2/crawl/<id>, DELETE /v2/crawl/<id>, POST /v2/map"
TIMEOUT_CODES = ("timeout", "too_slow", "render_timeout")
REASON_CODES = {"dns": "SCRAPE_DNS_RESOLUTION_ERROR", "tls": "SCRAPE_SSL_ERROR"}


def failure(message: str, status: int, code: str | None = None) -> tuple[Response, int]:
    body: dict[str, Any] = {"success": False, "error": message}
    if code:
        body["code"] = code
    return jsonify(body), status


class Refused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@blueprint.errorhandler(Refused)
def _refused(exc: Refused) -> tuple[Response, int]:
    response, status = failure(str(exc), exc.status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="crawler"'
    return response, status


@blueprint.errorhandler(ConfigError)
def _bad_request(exc: ConfigError) -> tuple[Response, int]:
    return failure(str(exc), 400)


@blueprint.errorhandler(QueueFull)
def _queue_full(exc: QueueFull) -> tuple[Response, int]:
    return failure(str(exc), 429)


@blueprint.errorhandler(UnknownCrawl)
def _unknown(exc: UnknownCrawl) -> tuple[Response, int]:
    return failure(str(exc.args[0]) if exc.args else "unknown crawl", 404)


KEY_REQUIRED_MESSAGE = ("an API key is required: send 'Authorization: Bearer <key>' (a session makes keys in the "
                        "dashboard or with POST /api/keys), or the session cookie of a browser or script; without "
                        "either, each request would act as a new session that could never see its crawls again")


def _owner() -> str:
    """Whose request this is: the session of the API key it carries, else of the session cookie
    it sent. Neither (Firecrawl's clients keep no cookies): refused, rather than start crawls
    that no one could follow, stop or delete."""
    owner = current_session_id()
    if owner is None or session_made_now():
        raise Refused(KEY_REQUIRED_MESSAGE, 401)
    return owner


def _body() -> Any:
    if not request.is_json:
        raise Refused("the request body must be a JSON object sent with Content-Type: application/json "
                      f"(got {request.mimetype or 'no content type'}), e.g. {{\"url\": \"https://docs.example.org/\"}}",
                      400)
    try:
        return request.get_json()
    except BadRequest:
        raise Refused("the request body is not valid JSON", 400) from None


def _job(crawl_id: str) -> CrawlRecord:
    """The caller's crawl; someone else's, a missing one and a malformed id answer the same 404."""
    if not is_crawl_id(crawl_id):
        raise Refused(unknown_crawl_message(crawl_id[:100]), 404)
    return extension().crawls.get(_owner(), crawl_id)


def _where(record: CrawlRecord) -> str:
    """Where a crawl that ran out of time was: still waiting for a slot, or at work."""
    if record.state == State.QUEUED:
        return f"it was still queued: {record.message or 'waiting for a free crawl slot'}"
    return f"it was still {record.state.value}"


def _page_failure(crawl_id: str, entry: dict[str, Any] | None, record: CrawlRecord) -> tuple[Response, int]:
    """A scrape whose page was not saved: why, in Firecrawl's error shape."""
    if entry is None:
        reason = (record.summary or {}).get("stop_reason") or record.message or record.state.value
        return failure(f"the page was not scraped: {reason} (crawl {crawl_id})", 422, "SCRAPE_FAILED")
    code = entry.get("reason") or ""
    what = "was skipped" if entry.get("status") == PageStatus.SKIPPED else "failed"
    message = f"the page {what} ({code}): {entry.get('error') or code} (crawl {crawl_id})"
    if code in TIMEOUT_CODES:
        return failure(message, 408, "SCRAPE_TIMEOUT")
    return failure(message, 422, REASON_CODES.get(code, "SCRAPE_FAILED"))


@blueprint.post("/scrape")
def scrape() -> Any:
    """One page: a crawl of that page alone, waited for, answered as one document."""
    owner = _owner()
    body = translate.scrape_settings(_body())
    crawls = extension().crawls
    record = translate.start(crawls, owner, body)
    wait = body.wait or translate.DEFAULT_SCRAPE_WAIT
    record = translate.wait_for_end(crawls, owner, record.crawl_id, wait)
    if not record.state.is_final:
        crawls.stop(owner, record.crawl_id)
        return failure(f"the page was not scraped within {wait:g} s ({_where(record)}); its crawl "
                       f"{record.crawl_id} was stopped", 408, "SCRAPE_TIMEOUT")
    crawl_dir = crawls.crawl_dir(record)
    entry = documents.outcome(crawl_dir)
    if entry is None or entry.get("status") != PageStatus.OK:
        return _page_failure(record.crawl_id, entry, record)
    doc = documents.document(crawl_dir, entry, body.formats, body.remove_base64_images)
    if doc is None:
        return failure(f"the page's file is gone (crawl {record.crawl_id})", 410)
    doc["metadata"]["scrapeId"] = record.crawl_id
    return jsonify({"success": True, "data": doc})


@blueprint.post("/crawl")
def start_crawl() -> Any:
    owner = _owner()
    body = translate.crawl_settings(_body())
    record = translate.start(extension().crawls, owner, body)
    return jsonify({"success": True, "id": record.crawl_id, "url": _status_url(record.crawl_id)})


def _status_url(crawl_id: str, **query: int) -> str:
    params = "&".join(f"{key}={value}" for key, value in query.items())
    return f"{request.host_url.rstrip('/')}{PREFIX}/crawl/{crawl_id}" + (f"?{params}" if params else "")


def _whole_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12) or not low <= int(raw) <= high:
        raise Refused(f"{name} must be a whole number from {low} to {high:,}, got {raw[:40]!r}", 400)
    return int(raw)


@blueprint.get("/crawl/<job_id>")
def crawl_status(job_id: str) -> Any:
    """The crawl's status and its saved pages from `skip` on, paged by `next`."""
    record = _job(job_id)
    skip = _whole_arg("skip", 0, 0, 10**9)
    limit = _whole_arg("limit", documents.PAGE_SIZE, 1, documents.MAX_PAGE_SIZE)
    crawl_dir = extension().crawls.crawl_dir(record)
    options = translate.read_options(crawl_dir)
    page = documents.document_page(crawl_dir, skip, limit, options["formats"], options["removeBase64Images"])
    counts = record.counts()
    handled = counts[PageStatus.OK] + counts[PageStatus.FAILED] + counts[PageStatus.SKIPPED]
    answer: dict[str, Any] = {
        "success": True,
        "status": translate.job_status(record.state),
        "completed": handled,
        # An ended crawl has handled all it will: its total is what it handled (URLs admitted
        # beyond its page budget were never to be fetched).
        "total": handled if record.state.is_final else max(counts["discovered"], handled),
        "creditsUsed": 0,
        "next": None,
        "data": page.documents,
    }
    if page.more or not record.state.is_final:
        extra = {"limit": limit} if "limit" in request.args else {}
        answer["next"] = _status_url(record.crawl_id, skip=page.next_skip, **extra)
    warning = _warning(record)
    if warning:
        answer["warning"] = warning
    return jsonify(answer)


def _warning(record: CrawlRecord) -> str | None:
    reason = (record.summary or {}).get("stop_reason")
    if record.state == State.INTERRUPTED:
        return (f"the crawl was interrupted ({reason or 'the server stopped'}); "
                f"POST /api/crawls/{record.crawl_id}/resume continues it")
    if record.state == State.FAILED:
        return f"the crawl failed: {reason or record.message or 'no reason given'}"
    return None


@blueprint.delete("/crawl/<job_id>")
def cancel_crawl(job_id: str) -> Any:
    """Stop the crawl (its pages stay; it can be resumed from the dashboard or the REST API)."""
    record = _job(job_id)
    if record.state.is_final:
        return failure(f"crawl {record.crawl_id} has already ended ({translate.job_status(record.state)})", 409)
    extension().crawls.stop(record.owner, record.crawl_id)
    return jsonify({"success": True, "status": "cancelled"})


@blueprint.post("/map")
def map_site() -> Any:
    """The site's URLs: a discovery, waited for; its links in the order they were found."""
    owner = _owner()
    asked = translate.map_settings(_body())
    crawls = extension().crawls
    record = crawls.start(owner, asked.settings, kind=CrawlKind.DISCOVERY)
    record = translate.wait_for_end(crawls, owner, record.crawl_id, asked.wait)
    if not record.state.is_final:
        crawls.stop(owner, record.crawl_id)
        return failure(f"the map did not finish within {asked.wait:g} s ({_where(record)}); its discovery "
                       f"{record.crawl_id} was stopped (GET /api/discover/{record.crawl_id} lists what it found)",
                       408, "MAP_TIMEOUT")
    if record.state != State.COMPLETED:
        reason = (record.summary or {}).get("stop_reason") or record.message or record.state.value
        return failure(f"the map ended {record.state.value}: {reason} (discovery {record.crawl_id})", 422)
    links = documents.map_links(crawls.crawl_dir(record), limit=int(asked.settings["max_pages"]),
                                sitemap_only=asked.sitemap_only, strip_query=asked.strip_query, search=asked.search)
    return jsonify({"success": True, "links": links})


@blueprint.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@blueprint.get("/crawl/active", defaults={"rest": "crawl/active"})  # not a crawl id: Firecrawl's list of running crawls
def not_served(rest: str) -> tuple[Response, int]:
    hint = " (GET /api/crawls lists your crawls)" if rest == "crawl/active" else ""
    return failure(f"{request.method} {PREFIX}/{rest} is not available here{hint}: this server serves {ENDPOINTS}", 404)
