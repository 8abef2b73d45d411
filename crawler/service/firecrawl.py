"""Firecrawl's v2 request bodies, translated into this server's crawl settings (docs/api.md
"Firecrawl-compatible API").

A Firecrawl field either maps onto a crawl setting (`limit` → `max_pages`, `includePaths` →
`include` as regular expressions, `includeTags` → `content_selector`...), is accepted only with
the value that describes what this server always does (`mobile: false`, `blockAds: true`...), or
is refused with its reason. A field Firecrawl does not have is refused too. Every problem of a
body is named in one 400 answer; nothing is silently ignored.

The requests become ordinary crawls: a scrape is a crawl of one page, a map is a discovery, a
crawl is a crawl. They are started, limited, guarded and listed like any other.
"""

from __future__ import annotations

import difflib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.engine.config import MAX_SELECTED_URLS, ConfigError, parse_crawl_config
from crawler.engine.events import CrawlKind, State
from crawler.folder.reader import read_json
from crawler.service.crawls import CrawlService
from crawler.service.records import CrawlRecord

OPTIONS_FILE = "firecrawl.json"  # in a crawl folder: the formats its Firecrawl documents are given in
FORMATS = ("markdown", "html", "links")
DEFAULT_CRAWL_LIMIT = 10_000  # Firecrawl's default `limit` for a crawl
DEFAULT_MAP_LIMIT = 5_000  # and for a map
MAX_LIMIT = MAX_SELECTED_URLS  # this server's largest `max_pages`
MAX_DEPTH = 100  # this server's largest `max_depth`: what "no maxDiscoveryDepth" becomes
DEFAULT_SCRAPE_WAIT = 60.0  # seconds a scrape waits for its page when the body gives no `timeout`
DEFAULT_MAP_WAIT = 120.0  # seconds a map waits for its discovery when the body gives no `timeout`
MAX_WAIT = 600.0  # the longest `timeout` a scrape or a map may ask for (one HTTP request waits on it)
MAX_PATTERN_TEXT = 50  # characters of a refused value quoted back

# Formats Firecrawl has and this server does not make, with the reason.
REFUSED_FORMATS = {
    "rawHtml": "the raw HTML of a page is not kept: pages are stored as Markdown",
    "screenshot": "pages are not photographed",
    "json": "there is no language model here to fill a schema",
    "summary": "there is no language model here to summarise",
    "changeTracking": "use POST /api/crawls/<id>/refresh: a refresh reports what changed since a crawl",
    "images": "the images of a page are not listed (its Markdown keeps them as links)",
    "branding": "a site's branding is not extracted",
    "attributes": "element attributes are not extracted",
    "query": "there is no language model here to answer questions",
    "question": "there is no language model here to answer questions",
    "highlights": "there is no language model here to pick highlights",
    "audio": "audio is not extracted",
    "video": "video is not extracted",
    "product": "products are not extracted",
    "menu": "menus are not extracted",
}

NO_BROWSER_CONTROL = ("a page is fetched over HTTP, or rendered in a headless browser only when it needs "
                      "JavaScript, without per-request browser control")
# Fields Firecrawl has that mean nothing this server can honour, with the reason.
REFUSED_FIELDS = {
    "actions": NO_BROWSER_CONTROL,
    "location": "requests are not sent from chosen countries or languages",
    "useMock": "there are no recorded answers to replay",
    "profile": NO_BROWSER_CONTROL,
    "threatProtection": "there is no threat scoring of pages",
    "auditMetadata": "there is no audit log to attach metadata to",
    "redactPII": "personal data is not redacted",
    "minAge": "there is no cache of scraped pages to read from",
    "prompt": "there is no language model here to turn a prompt into settings",
    "robotsUserAgent": "robots.txt is read for the crawler's own user agent",
    "jsonOptions": REFUSED_FORMATS["json"],
    "changeTrackingOptions": REFUSED_FORMATS["changeTracking"],
    "__experimental_omce": "experimental Firecrawl options are not supported",
    "__experimental_omceDomain": "experimental Firecrawl options are not supported",
}


class FirecrawlRequestError(ConfigError):
    """A Firecrawl request body this server cannot honour; the message names every field at fault."""


@dataclass
class Translation:
    """A body read so far: the crawl settings it makes, what else it asks for, and its problems."""

    settings: dict[str, Any] = field(default_factory=dict)
    formats: list[str] = field(default_factory=lambda: ["markdown"])
    remove_base64_images: bool = True
    wait: float | None = None  # seconds: the body's `timeout` (scrape, map)
    problems: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # setting → the Firecrawl field that set it

    def set(self, setting: str, value: Any, source: str) -> None:
        self.settings[setting] = value
        self.origins[setting] = source

    def refuse(self, message: str) -> None:
        self.problems.append(message)

    @property
    def options(self) -> dict[str, Any]:
        """What OPTIONS_FILE holds: how the crawl's pages are given as Firecrawl documents."""
        return {"formats": self.formats, "removeBase64Images": self.remove_base64_images}


Handler = Callable[[Translation, str, Any], None]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_PATTERN_TEXT else text[:MAX_PATTERN_TEXT] + "..."


def _fixed(expected: Any, reason: str) -> Handler:
    """A field accepted only with the value that describes what this server always does."""
    def handle(t: Translation, name: str, value: Any) -> None:
        if value != expected or type(value) is not type(expected):
            t.refuse(f"{name} is accepted only as {_json(expected)} ({reason}), got {_shown(value)}")
    return handle


def _json(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    return repr(value)


def _tag(t: Translation, name: str, value: Any) -> None:
    """`origin`, `integration`: who sent the request, a label this server does not use."""
    if not isinstance(value, str) or len(value) > 200:
        t.refuse(f"{name} must be a string of at most 200 characters")


def _whole(value: Any, low: int, high: int) -> int | None:
    """A whole number within the bounds (5 and 5.0 alike), else None; JSON's Infinity and NaN too."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value):
        return None
    number = int(value)
    return number if low <= number <= high else None


def _bool(t: Translation, name: str, value: Any) -> bool | None:
    if not isinstance(value, bool):
        t.refuse(f"{name} must be true or false, got {_shown(value)}")
        return None
    return value


def _limit(default_setting: str = "max_pages") -> Handler:
    def handle(t: Translation, name: str, value: Any) -> None:
        number = _whole(value, 1, MAX_LIMIT)
        if number is None:
            t.refuse(f"{name} must be a whole number from 1 to {MAX_LIMIT:,}, got {_shown(value)}")
        else:
            t.set(default_setting, number, name)
    return handle


def _max_age(t: Translation, name: str, value: Any) -> None:
    """Firecrawl may answer from a cache of pages younger than `maxAge` ms; a page fetched now
    is younger than any, so every value is honoured."""
    if _whole(value, 0, 2**53) is None:
        t.refuse(f"{name} must be a whole number of milliseconds, 0 or more, got {_shown(value)}")


def _any_bool(t: Translation, name: str, value: Any) -> None:
    _bool(t, name, value)


def _timeout(seconds_setting: bool) -> Handler:
    """`timeout` in milliseconds: how long the request waits for its result; for a scrape also
    the page's own time limit (this server's `timeout` setting, 1-120 s)."""
    def handle(t: Translation, name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1000 <= value <= MAX_WAIT * 1000:
            t.refuse(f"{name} must be a number of milliseconds from 1000 to {int(MAX_WAIT * 1000)}, "
                     f"got {_shown(value)}")
            return
        t.wait = value / 1000
        if seconds_setting:
            t.set("timeout", min(120.0, value / 1000), name)
    return handle


def _formats(t: Translation, name: str, value: Any) -> None:
    if not isinstance(value, list):
        t.refuse(f"{name} must be a list of formats, e.g. [\"markdown\", \"links\"]")
        return
    chosen: list[str] = []
    for item in value:
        kind = item.get("type") if isinstance(item, dict) else item
        if not isinstance(kind, str):
            t.refuse(f"{name}: each format is a name or an object with a \"type\", got {_shown(item)}")
            continue
        if isinstance(item, dict) and set(item) != {"type"} and kind in FORMATS:
            extra = sorted(set(item) - {"type"})
            t.refuse(f"{name}: the {kind} format takes no options, got {', '.join(extra)}")
            continue
        if kind in FORMATS:
            if kind not in chosen:
                chosen.append(kind)
        elif kind in REFUSED_FORMATS:
            t.refuse(f"{name}: the {kind} format is not supported ({REFUSED_FORMATS[kind]}); "
                     f"supported: {', '.join(FORMATS)}")
        else:
            t.refuse(f"{name}: unknown format {_shown(kind)}; supported: {', '.join(FORMATS)}")
    t.formats = chosen


def _include_tags(t: Translation, name: str, value: Any) -> None:
    """CSS selectors of the content: together, this server's `content_selector`."""
    tags = _strings(t, name, value)
    if tags:
        t.set("content_selector", ", ".join(tags), name)


def _exclude_tags(t: Translation, name: str, value: Any) -> None:
    tags = _strings(t, name, value)
    if tags:
        t.set("exclude_selectors", tags, name)


def _strings(t: Translation, name: str, value: Any) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        t.refuse(f"{name} must be a list of strings")
        return None
    return [v.strip() for v in value if v.strip()]


def _paths(setting: str) -> Handler:
    """Firecrawl's path patterns are regular expressions searched in the URL's path: this
    server's `re:` patterns (searched in the path and query)."""
    def handle(t: Translation, name: str, value: Any) -> None:
        patterns = _strings(t, name, value)
        if patterns:
            t.set(setting, [f"re:{p}" for p in patterns], name)
    return handle


def _depth(t: Translation, name: str, value: Any) -> None:
    number = _whole(value, 0, MAX_DEPTH)
    if number is None:
        t.refuse(f"{name} must be a whole number from 0 to {MAX_DEPTH}, got {_shown(value)}")
    else:
        t.set("max_depth", number, name)


def _delay(t: Translation, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 60:
        t.refuse(f"{name} must be a number of seconds from 0 to 60, got {_shown(value)}")
    else:
        t.set("delay", value, name)


def _concurrency(t: Translation, name: str, value: Any) -> None:
    number = _whole(value, 1, 64)
    if number is None:
        t.refuse(f"{name} must be a whole number from 1 to 64, got {_shown(value)}")
    else:
        t.set("concurrency", number, name)


def _robots(t: Translation, name: str, value: Any) -> None:
    ignore = _bool(t, name, value)
    if ignore is not None:
        t.set("respect_robots", not ignore, name)


def _crawl_sitemap(t: Translation, name: str, value: Any) -> None:
    if value == "include":
        t.set("use_sitemaps", True, name)
    elif value == "skip":
        t.set("use_sitemaps", False, name)
    elif value == "only":
        t.refuse(f"{name} \"only\" is not supported for a crawl (a crawl reads the sitemaps and follows links); "
                 "POST /v2/map takes it")
    else:
        t.refuse(f"{name} must be \"include\" or \"skip\", got {_shown(value)}")


FIRECRAWL_WEBHOOK_EVENTS = ("started", "page", "completed", "failed")  # Firecrawl's, and its default
FIRECRAWL_WEBHOOK_FIELDS = ("url", "headers", "metadata", "events")


def _webhook(t: Translation, name: str, value: Any) -> None:
    """Firecrawl's webhook (a URL, or {url, headers, metadata, events}) as this server's `webhook`
    setting (docs/api.md "Webhooks": the posts have this server's shape, unsigned)."""
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, dict):
        t.refuse(f"{name} must be a URL or an object {{\"url\", \"headers\"?, \"metadata\"?, \"events\"?}}")
        return
    unknown = [key for key in value if key not in FIRECRAWL_WEBHOOK_FIELDS]
    for key in unknown:
        t.refuse(f"unknown field {name}.{key} (a webhook takes {', '.join(FIRECRAWL_WEBHOOK_FIELDS)})")
    events = value.get("events")
    if events is None:
        events = list(FIRECRAWL_WEBHOOK_EVENTS)
    elif not isinstance(events, list) or not events or not all(e in FIRECRAWL_WEBHOOK_EVENTS for e in events):
        t.refuse(f"{name}.events must be a non-empty list of {', '.join(FIRECRAWL_WEBHOOK_EVENTS)}, got {_shown(events)}")
        return
    if not unknown:
        t.set("webhook", {"url": value.get("url"), "headers": value.get("headers"), "metadata": value.get("metadata"),
                          "events": events}, name)


def _remove_base64(t: Translation, name: str, value: Any) -> None:
    remove = _bool(t, name, value)
    if remove is not None:
        t.remove_base64_images = remove


def _only_main_content(t: Translation, name: str, value: Any) -> None:
    if _bool(t, name, value) is False:
        t.refuse(f"{name} is accepted only as true (a page is stored as its main content, without its "
                 "navigation, header and footer; includeTags chooses the content yourself), got false")


def _proxy(t: Translation, name: str, value: Any) -> None:
    if value != "basic":
        t.refuse(f"{name} is accepted only as \"basic\" (pages are fetched directly, without proxies), "
                 f"got {_shown(value)}")


# ---- the fields of each body ----------------------------------------------------------------

SCRAPE_OPTIONS: dict[str, Handler] = {
    "formats": _formats,
    "onlyMainContent": _only_main_content,
    "includeTags": _include_tags,
    "excludeTags": _exclude_tags,
    "removeBase64Images": _remove_base64,
    "maxAge": _max_age,
    "headers": _fixed({}, "requests carry the crawler's own headers only"),
    "waitFor": _fixed(0, "a page is read as soon as it is loaded"),
    "mobile": _fixed(False, "pages are fetched as a desktop client"),
    "skipTlsVerification": _fixed(False, "TLS certificates are always verified"),
    "fastMode": _fixed(False, "there is one way of fetching"),
    "blockAds": _fixed(True, "no ad is ever loaded: pages are fetched over HTTP, and a page rendered in the "
                             "browser loads no images, media or third-party frames"),
    "proxy": _proxy,
    "storeInCache": _fixed(True, "every page fetched is saved in its crawl's folder until the crawl is deleted"),
    "parsers": _fixed([], "only HTML pages are read; PDFs and other files are skipped"),
    "lockdown": _fixed(False, "there is no cache of scraped pages to answer from"),
    "checkPromptInjection": _fixed(False, "pages are not scanned for prompt injection"),
}

COMMON: dict[str, Handler] = {
    "origin": _tag,
    "integration": _tag,
    "zeroDataRetention": _fixed(False, "a crawl's pages are kept in its folder until the crawl is deleted"),
}

CRAWLER_OPTIONS: dict[str, Handler] = {
    "limit": _limit(),
    "includePaths": _paths("include"),
    "excludePaths": _paths("exclude"),
    "maxDiscoveryDepth": _depth,
    "sitemap": _crawl_sitemap,
    "ignoreRobotsTxt": _robots,
    "delay": _delay,
    "maxConcurrency": _concurrency,
    "allowExternalLinks": _fixed(False, "a crawl stays on its site (allowSubdomains and crawlEntireDomain widen it)"),
    "deduplicateSimilarURLs": _fixed(True, "URLs are always compared in canonical form: one page is fetched once"),
    "ignoreQueryParameters": _fixed(False, "URLs keep their query parameters (tracking and session parameters are "
                                           "dropped)"),
    "webhook": _webhook,
}


def _refused(name: str) -> Handler:
    def handle(t: Translation, field_name: str, value: Any) -> None:
        t.refuse(f"{field_name} is not supported ({REFUSED_FIELDS[name]})")
    return handle


def _read(t: Translation, body: dict[str, Any], handlers: dict[str, Handler], where: str = "",
          nests_scrape_options: bool = False) -> None:
    """Run each field of `body` through its handler; an unknown field is a problem, with a hint."""
    known = {**handlers, **{name: _refused(name) for name in REFUSED_FIELDS}}
    for name, value in body.items():
        label = f"{where}{name}"
        handler = known.get(name)
        if handler is None:
            hint = difflib.get_close_matches(str(name), list(handlers), n=1)
            if nests_scrape_options and name in SCRAPE_OPTIONS:
                t.refuse(f"unknown field {label!r} (it belongs in scrapeOptions)")
            else:
                t.refuse(f"unknown field {label!r}" + (f" (did you mean {where + hint[0]!r}?)" if hint else ""))
        elif value is None:
            continue  # an explicit null is the field left out
        else:
            handler(t, label, value)


def _check_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FirecrawlRequestError(f"the request body must be a JSON object, e.g. "
                                    f"{{\"url\": \"https://docs.example.org/\"}} ({what})")
    if not isinstance(body.get("url"), str) or not body["url"].strip():
        raise FirecrawlRequestError("url is required: the address of the page or site")
    return body


def _finish(t: Translation) -> dict[str, Any]:
    """The settings, validated as any crawl's are; a problem names the Firecrawl field behind it."""
    if t.problems:
        raise FirecrawlRequestError("; ".join(t.problems))
    try:
        parse_crawl_config(t.settings)
    except ConfigError as exc:
        message = str(exc)
        for setting, source in t.origins.items():
            if re.match(rf"{re.escape(setting)}\b", message) and not message.startswith(source):
                message = f"{source}: {message}"
                break
        raise FirecrawlRequestError(message) from None
    return t.settings


def scrape_settings(body: Any) -> Translation:
    """POST /v2/scrape: one page, as a crawl of that page alone (no sitemaps, no links followed)."""
    body = _check_object(body, "a scrape")
    t = Translation()
    t.set("urls", [body["url"]], "url")
    t.settings.update(max_pages=1, use_sitemaps=False, scope="subdomains")
    _read(t, {k: v for k, v in body.items() if k != "url"},
          {**SCRAPE_OPTIONS, **COMMON, "timeout": _timeout(seconds_setting=True)})
    t.settings = _finish(t)
    return t


def crawl_settings(body: Any) -> Translation:
    """POST /v2/crawl: a crawl of the site from `url`."""
    body = _check_object(body, "a crawl")
    t = Translation()
    t.set("url", body["url"], "url")
    t.settings.update(max_pages=DEFAULT_CRAWL_LIMIT, max_depth=MAX_DEPTH)
    rest = {k: v for k, v in body.items() if k not in ("url", "scrapeOptions", "allowSubdomains",
                                                        "crawlEntireDomain", "regexOnFullURL")}
    _read(t, rest, {**CRAWLER_OPTIONS, **COMMON}, nests_scrape_options=True)
    _scope(t, body)
    scrape_options = body.get("scrapeOptions")
    if scrape_options is not None:
        if isinstance(scrape_options, dict):
            _read(t, scrape_options, {**SCRAPE_OPTIONS, "timeout": _page_timeout}, where="scrapeOptions.")
        else:
            t.refuse("scrapeOptions must be an object")
    t.settings = _finish(t)
    return t


def _page_timeout(t: Translation, name: str, value: Any) -> None:
    """A crawl's `scrapeOptions.timeout` (ms): each page's time limit, this server's `timeout` (1-120 s)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1000 <= value <= 120_000:
        t.refuse(f"{name} must be a number of milliseconds from 1000 to 120000, got {_shown(value)}")
    else:
        t.set("timeout", value / 1000, name)


def _scope(t: Translation, body: dict[str, Any]) -> None:
    """allowSubdomains → scope `subdomains`, crawlEntireDomain → `host`, else `prefix`; and
    regexOnFullURL, which only patterns that already see the whole URL can honour."""
    subdomains = _bool(t, "allowSubdomains", body["allowSubdomains"]) if body.get("allowSubdomains") is not None \
        else False
    entire = _bool(t, "crawlEntireDomain", body["crawlEntireDomain"]) if body.get("crawlEntireDomain") is not None \
        else False
    if subdomains:
        t.set("scope", "subdomains", "allowSubdomains")
    elif entire:
        t.set("scope", "host", "crawlEntireDomain")
    full = body.get("regexOnFullURL")
    if full is None or _bool(t, "regexOnFullURL", full) is not True:
        return
    for setting, source in (("include", "includePaths"), ("exclude", "excludePaths")):
        for pattern in t.settings.get(setting, []):
            if not pattern[len("re:"):].lstrip("^").startswith("http"):
                t.refuse(f"regexOnFullURL: {source} pattern {_shown(pattern[3:])} would be matched against the "
                         "path here: with regexOnFullURL, write each pattern from the scheme on "
                         "(e.g. \"^https://docs\\\\.example\\\\.org/guide/\")")


@dataclass
class MapRequest:
    settings: dict[str, Any]
    wait: float
    sitemap_only: bool = False
    strip_query: bool = True  # Firecrawl's default for a map: URLs that differ only by their query are one
    search: str | None = None


def map_settings(body: Any) -> MapRequest:
    """POST /v2/map: a discovery of the site from `url` (it fetches the pages it finds to read
    their links and titles, and stores none)."""
    body = _check_object(body, "a map")
    t = Translation()
    t.set("url", body["url"], "url")
    t.settings.update(max_pages=DEFAULT_MAP_LIMIT)
    request = MapRequest({}, DEFAULT_MAP_WAIT)
    scope: dict[str, bool | None] = {"subdomains": None, "by_path": None}

    def sitemap(t: Translation, name: str, value: Any) -> None:
        if value in ("include", "only"):
            t.set("use_sitemaps", True, name)
            request.sitemap_only = value == "only"
        elif value == "skip":
            t.set("use_sitemaps", False, name)
        else:
            t.refuse(f"{name} must be \"include\", \"skip\" or \"only\", got {_shown(value)}")

    def flag(key: str) -> Handler:
        def handle(t: Translation, name: str, value: Any) -> None:
            scope[key] = _bool(t, name, value)
        return handle

    def strip_query(t: Translation, name: str, value: Any) -> None:
        if _bool(t, name, value) is not None:
            request.strip_query = value

    def search(t: Translation, name: str, value: Any) -> None:
        if not isinstance(value, str) or len(value) > 500:
            t.refuse(f"{name} must be a string of at most 500 characters")
        elif value.strip():
            request.search = value.strip()

    _read(t, {k: v for k, v in body.items() if k != "url"}, {
        **COMMON, "limit": _limit(), "sitemap": sitemap, "includeSubdomains": flag("subdomains"),
        "filterByPath": flag("by_path"), "ignoreQueryParameters": strip_query, "search": search,
        "timeout": _timeout(seconds_setting=False),
        "useIndex": _any_bool,  # Firecrawl may answer from its index; a fresh discovery serves either way
        "includePaths": _paths("include"), "excludePaths": _paths("exclude"),
        "ignoreRobotsTxt": _robots, "maxDiscoveryDepth": _depth,
        "allowExternalLinks": CRAWLER_OPTIONS["allowExternalLinks"],
    })
    if scope["subdomains"]:
        t.set("scope", "subdomains", "includeSubdomains")
    elif scope["by_path"] is False:
        t.set("scope", "host", "filterByPath")
    if request.sitemap_only:
        t.settings.setdefault("max_depth", 1)  # sitemap pages are depth 1: deeper links would not be listed
    request.settings = _finish(t)
    request.wait = t.wait or DEFAULT_MAP_WAIT
    return request


# ---- running the requests ----------------------------------------------------------------------


def start(service: CrawlService, owner: str, translation: Translation,
          kind: CrawlKind = CrawlKind.CRAWL) -> CrawlRecord:
    """Start the crawl the body asked for, as any crawl is started, and keep its output options."""
    return service.start(owner, translation.settings, kind=kind, meta={OPTIONS_FILE: translation.options})


def wait_for_end(service: CrawlService, owner: str, crawl_id: str, seconds: float,
                 poll: float = 0.1) -> CrawlRecord:
    """The crawl's record once it has ended, or as it is after `seconds` (polled from the store,
    so the same in the embedded and the cluster mode)."""
    deadline = time.monotonic() + seconds
    while True:
        record = service.get(owner, crawl_id)
        if record.state.is_final or time.monotonic() >= deadline:
            return record
        time.sleep(poll)


def read_options(crawl_dir: Path) -> dict[str, Any]:
    """The output options a crawl was started with through this API (Markdown only for any other)."""
    try:
        options = read_json(crawl_dir / OPTIONS_FILE)
    except (OSError, ValueError):
        options = {}
    formats = options.get("formats") if isinstance(options, dict) else None
    if not isinstance(formats, list) or not all(f in FORMATS for f in formats):
        formats = ["markdown"]
    remove = options.get("removeBase64Images") if isinstance(options, dict) else None
    return {"formats": formats, "removeBase64Images": remove if isinstance(remove, bool) else True}


def job_status(state: State) -> str:
    """A crawl's state as Firecrawl's job status: scraping, completed, failed or cancelled."""
    if state == State.COMPLETED:
        return "completed"
    if state == State.STOPPED:
        return "cancelled"
    if state in (State.FAILED, State.INTERRUPTED):
        return "failed"
    return "scraping"
