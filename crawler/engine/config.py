"""Validated crawl settings: one place that turns untrusted JSON into a typed config.

Every entry point (Socket.IO, REST, CLI) goes through :func:`parse_crawl_config`, so limits and
error messages are the same everywhere and a typo never silently falls back to a default.
"""

from __future__ import annotations

import difflib
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import regex as _regex

from crawler import __version__

DEFAULT_USER_AGENT = f"CrawlerDashboard/{__version__} (+docs crawler)"


SCOPES = ("prefix", "host", "subdomains")


RENDER_MODES = ("auto", "never", "always")  # JavaScript rendering (crawler/render/)


MAX_SELECTED_URLS = 100_000


class ConfigError(ValueError):
    """A setting is missing or invalid; the message is meant for the person who sent it."""


@dataclass(frozen=True)
class CrawlConfig:
    url: str
    urls: tuple[str, ...] = ()
    max_pages: int = 500
    max_depth: int = 10
    concurrency: int = 8
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    scope: str = "prefix"
    per_host_concurrency: int = 4
    delay: float = 0.0
    respect_robots: bool = True
    use_sitemaps: bool = True
    max_retries: int = 3
    timeout: float = 20.0
    user_agent: str = DEFAULT_USER_AGENT
    render: str = "auto"
    content_selector: str | None = None  # CSS: when it matches, only that is the page's content
    exclude_selectors: tuple[str, ...] = ()  # CSS: removed from every page before extraction
    webhook: WebhookConfig | None = None  # where the crawl's events are posted (crawler/service/webhooks.py)
    prefer_site_markdown: bool = False  # a page's own Markdown version (when the site publishes one) is saved instead

    @property
    def is_selection(self) -> bool:
        """A crawl of chosen URLs (from a discovery), rather than of a site from a start point."""
        return bool(self.urls)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("urls", "include", "exclude", "exclude_selectors"):
            data[key] = list(getattr(self, key))
        data["webhook"] = self.webhook.to_dict() if self.webhook else None
        return data

    def public_dict(self) -> dict[str, Any]:
        """The settings as shown outside the crawl folder (API answers, downloads): the webhook's
        secret is never shown again once set, only whether there is one."""
        data = self.to_dict()
        if self.webhook is not None:
            data["webhook"] = self.webhook.public_dict()
        return data


WEBHOOK_EVENTS = ("started", "page", "completed", "failed", "changes")
WEBHOOK_SECRET_LENGTH = (16, 256)  # characters: a shorter shared secret is guessable
MAX_WEBHOOK_HEADERS = 20
MAX_WEBHOOK_METADATA_BYTES = 4096
# Headers the sender sets itself (or the HTTP client does): a webhook setting may not replace them.
RESERVED_WEBHOOK_HEADERS = ("host", "content-type", "content-length", "transfer-encoding", "connection",
                            "user-agent", "x-crawler-signature", "x-crawler-event", "x-crawler-delivery",
                            "x-crawler-attempt")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")


@dataclass(frozen=True)
class WebhookConfig:
    """Where a crawl's events are posted: the URL, the shared secret that signs each body
    (HMAC-SHA256), which events, extra headers and metadata echoed in every body."""

    url: str
    secret: str | None = None
    events: tuple[str, ...] = WEBHOOK_EVENTS
    headers: tuple[tuple[str, str], ...] = ()
    metadata: dict[str, Any] | None = None

    def wants(self, event: str) -> bool:
        return event in self.events

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "secret": self.secret, "events": list(self.events),
                "headers": dict(self.headers), "metadata": self.metadata}

    def public_dict(self) -> dict[str, Any]:
        data = self.to_dict()
        data["secret"] = None
        data["signed"] = self.secret is not None
        return data


def public_settings(data: dict[str, Any]) -> dict[str, Any]:
    """A stored config.json as shown outside the crawl folder: without the webhook's secret."""
    webhook = data.get("webhook")
    if not isinstance(webhook, dict):
        return data
    return {**data, "webhook": {**webhook, "secret": None, "signed": bool(webhook.get("secret"))}}


def _webhook_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("webhook.url is required: the http:// or https:// address the crawl's events are posted to")
    text = value.strip()
    if len(text) > 2000:
        raise ConfigError("webhook.url is too long (at most 2000 characters)")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or "://" not in text:
        raise ConfigError(f"webhook.url must start with http:// or https://, got {text[:60]!r}")
    try:
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        raise ConfigError(f"webhook.url is not valid: {exc}") from None
    if not host or any(c.isspace() for c in text):
        raise ConfigError(f"webhook.url is not a valid web address: {text[:60]!r}")
    if parts.username or parts.password:
        raise ConfigError("webhook.url must not contain a user name or password (use webhook.headers)")
    return text


def _webhook_secret(value: Any) -> str | None:
    if value is None or value == "":
        return None
    low, high = WEBHOOK_SECRET_LENGTH
    if not isinstance(value, str) or not low <= len(value) <= high or any(c in value for c in "\r\n\0"):
        raise ConfigError(f"webhook.secret must be a single line of {low} to {high} characters")
    return value


def _webhook_events(value: Any) -> tuple[str, ...]:
    if value is None:
        return WEBHOOK_EVENTS
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(e, str) for e in value):
        raise ConfigError(f"webhook.events must be a non-empty list of: {', '.join(WEBHOOK_EVENTS)}")
    for event in value:
        if event not in WEBHOOK_EVENTS:
            raise ConfigError(f"webhook.events: unknown event {event!r}; known events: {', '.join(WEBHOOK_EVENTS)}")
    return tuple(e for e in WEBHOOK_EVENTS if e in value)


def _webhook_headers(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError("webhook.headers must be an object of header names to values")
    if len(value) > MAX_WEBHOOK_HEADERS:
        raise ConfigError(f"webhook.headers accepts at most {MAX_WEBHOOK_HEADERS} headers, got {len(value)}")
    headers = []
    for name, text in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise ConfigError(f"webhook.headers: {str(name)[:60]!r} is not a valid header name")
        if name.lower() in RESERVED_WEBHOOK_HEADERS:
            raise ConfigError(f"webhook.headers: {name} is set by the crawler and cannot be replaced")
        if not isinstance(text, str) or len(text) > 1000 or any(c in text for c in "\r\n\0"):
            raise ConfigError(f"webhook.headers: the value of {name} must be a single line of at most 1000 characters")
        headers.append((name, text))
    return tuple(headers)


def _webhook_metadata(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError("webhook.metadata must be a JSON object (echoed in every webhook body)")
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError):
        raise ConfigError("webhook.metadata must be plain JSON") from None
    if size > MAX_WEBHOOK_METADATA_BYTES:
        raise ConfigError(f"webhook.metadata is too large: at most {MAX_WEBHOOK_METADATA_BYTES} bytes of JSON, got {size}")
    return value


_WEBHOOK_FIELDS: dict[str, Callable[[Any], Any]] = {
    "url": _webhook_url, "secret": _webhook_secret, "events": _webhook_events,
    "headers": _webhook_headers, "metadata": _webhook_metadata,
}


def parse_webhook(value: Any) -> WebhookConfig | None:
    """The `webhook` setting: a URL, or an object {url, secret?, events?, headers?, metadata?}."""
    if value is None:
        return None
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, dict):
        raise ConfigError("webhook must be an object: {\"url\": \"https://...\", \"secret\": ..., \"events\": [...]}")
    unknown = [key for key in value if key not in _WEBHOOK_FIELDS and key != "signed"]
    if unknown:
        raise ConfigError(f"unknown webhook setting {str(unknown[0])[:60]!r}; known: {', '.join(_WEBHOOK_FIELDS)}")
    fields = {key: check(value.get(key)) for key, check in _WEBHOOK_FIELDS.items()}
    return WebhookConfig(**fields)


def _int_in(name: str, low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{name} must be a whole number between {low} and {high}")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ConfigError(f"{name} must be a whole number between {low} and {high}, got {value!r}") from None
        if not low <= number <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, got {number}")
        return number

    return check


def _number_in(name: str, low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a number between {low:g} and {high:g}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number between {low:g} and {high:g}, got {value!r}") from None
        if not low <= number <= high:
            raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {number:g}")
        return number

    return check


def _bool(name: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.strip().lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"{name} must be true or false, got {value!r}")

    return check


REGEX_PREFIX = "re:"


MAX_PATTERNS = 100


MAX_PATTERN_LENGTH = 500


def _check_pattern(name: str, pattern: str) -> None:
    """A `re:` pattern is compiled here, so a broken regex is refused before the crawl starts."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ConfigError(f"{name} patterns must be at most {MAX_PATTERN_LENGTH} characters long, "
                          f"got one of {len(pattern)}: {pattern[:40]!r}...")
    if pattern.startswith(REGEX_PREFIX):
        expression = pattern[len(REGEX_PREFIX):]
        if not expression:
            raise ConfigError(f"{name} pattern {pattern!r} is empty after {REGEX_PREFIX!r}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # "possible nested set": judged below
                re.compile(expression)
        except re.error as exc:
            raise ConfigError(f"{name} pattern {pattern!r} is not a valid regular expression: {exc}") from None
        # Matching runs in the `regex` engine, the one with a time limit (crawler/engine/urls.py). A few
        # expressions only the standard `re` reads (`[[:foo:]]`) would have to run unbounded: refuse them.
        try:
            _regex.compile(expression)
        except _regex.error as exc:
            raise ConfigError(f"{name} pattern {pattern!r} cannot be used: the time-limited regex engine "
                              f"reads it differently ({exc}); write it without POSIX classes or nested sets"
                              ) from None


def _patterns(name: str) -> Callable[[Any], tuple[str, ...]]:
    """Glob patterns, or regular expressions written `re:<regex>` (see docs/events.md)."""
    def check(value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = value.splitlines()
        if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
            raise ConfigError(f"{name} must be a list of patterns (strings): globs, or regexes written re:<regex>")
        patterns = tuple(p.strip() for p in value if p.strip())
        if len(patterns) > MAX_PATTERNS:
            raise ConfigError(f"{name} accepts at most {MAX_PATTERNS} patterns, got {len(patterns)}")
        for pattern in patterns:
            _check_pattern(name, pattern)
        return patterns

    return check


MAX_SELECTORS = 50
MAX_SELECTOR_LENGTH = 500


def _check_css(name: str, css: str) -> str:
    """A CSS selector is compiled here, so an invalid one is refused before the crawl starts."""
    from crawler.engine.markdown import check_selector

    css = css.strip()
    if len(css) > MAX_SELECTOR_LENGTH:
        raise ConfigError(f"{name} selectors must be at most {MAX_SELECTOR_LENGTH} characters long, "
                          f"got one of {len(css)}: {css[:40]!r}...")
    try:
        check_selector(css)
    except ValueError as exc:
        raise ConfigError(f"{name} {css!r} is not a valid CSS selector: {exc}") from None
    return css


def _css_selector(name: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a CSS selector (a string), e.g. \"main .content\"")
        return _check_css(name, value) if value.strip() else None

    return check


def _css_list(name: str) -> Callable[[Any], tuple[str, ...]]:
    def check(value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = value.splitlines()
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be a list of CSS selectors (strings)")
        selectors = tuple(v.strip() for v in value if v.strip())
        if len(selectors) > MAX_SELECTORS:
            raise ConfigError(f"{name} accepts at most {MAX_SELECTORS} selectors, got {len(selectors)}")
        return tuple(_check_css(name, css) for css in selectors)

    return check


def _choice(name: str, choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    return check


def _user_agent(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 300 or any(c in value for c in "\r\n"):
        raise ConfigError("user_agent must be a non-empty single line of at most 300 characters")
    return value.strip()


# "javascript:...", "data:...", "file:/...", "ftp://...": a scheme, as opposed to "localhost:8000/docs" (host:port).
_SCHEME_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(?!\d)")


def normalize_start_url(value: Any) -> str:
    """Accept what a person types ("docs.example.org/guide") and return an absolute http(s) URL."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("url is required: the address of the documentation site to crawl")
    text = value.strip()
    if len(text) > 2000:
        raise ConfigError("url is too long (at most 2000 characters)")
    named_scheme = _SCHEME_PREFIX.match(text)
    if named_scheme and not text.lower().startswith(("http://", "https://")):
        if named_scheme.group(1).lower() in ("http", "https"):
            raise ConfigError(f"url is not a valid web address: {text!r} (expected {named_scheme.group(1)}://host/...)")
        raise ConfigError(f"url must start with http:// or https://, got {named_scheme.group(1)}: "
                          "(only web pages can be crawled)")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"url must start with http:// or https://, got {parts.scheme}://")
    try:
        host = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"url is not valid: {exc}") from None
    if not host or any(c.isspace() for c in text):
        raise ConfigError(f"url is not a valid web address: {value!r}")
    if parts.username or parts.password:
        raise ConfigError("url must not contain a user name or password")
    return text


def _url_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, (list, tuple)):
        raise ConfigError("urls must be a list of page addresses")
    if len(value) > MAX_SELECTED_URLS:
        raise ConfigError(f"urls accepts at most {MAX_SELECTED_URLS} addresses")
    urls: list[str] = []
    for item in value:
        try:
            urls.append(normalize_start_url(item))
        except ConfigError as exc:
            raise ConfigError(f"urls: {exc}") from None
    return tuple(dict.fromkeys(urls))


_FIELDS: dict[str, Callable[[Any], Any]] = {
    "url": normalize_start_url,
    "urls": _url_list,
    "max_pages": _int_in("max_pages", 1, 100_000),
    "max_depth": _int_in("max_depth", 0, 100),
    "concurrency": _int_in("concurrency", 1, 64),
    "include": _patterns("include"),
    "exclude": _patterns("exclude"),
    "scope": _choice("scope", SCOPES),
    "per_host_concurrency": _int_in("per_host_concurrency", 1, 64),
    "delay": _number_in("delay", 0, 60),
    "respect_robots": _bool("respect_robots"),
    "use_sitemaps": _bool("use_sitemaps"),
    "max_retries": _int_in("max_retries", 0, 10),
    "timeout": _number_in("timeout", 1, 120),
    "user_agent": _user_agent,
    "render": _choice("render", RENDER_MODES),
    "content_selector": _css_selector("content_selector"),
    "exclude_selectors": _css_list("exclude_selectors"),
    "webhook": parse_webhook,
    "prefer_site_markdown": _bool("prefer_site_markdown"),
}


def parse_crawl_config(data: Any) -> CrawlConfig:
    """Validate a JSON object into a :class:`CrawlConfig` or raise :class:`ConfigError`."""
    if not isinstance(data, dict):
        raise ConfigError("the crawl configuration must be a JSON object, e.g. {\"url\": \"https://docs.example.org/\"}")
    unknown = [key for key in data if key not in _FIELDS]
    if unknown:
        key = str(unknown[0])
        hint = difflib.get_close_matches(key, list(_FIELDS), n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; known settings: {', '.join(_FIELDS)}"
        raise ConfigError(f"unknown setting {key!r}{suggestion}")
    values = {key: _FIELDS[key](value) for key, value in data.items() if value is not None and value != ""}
    if not values.get("url") and not values.get("urls"):
        raise ConfigError("url is required: the address of the documentation site to crawl "
                          "(or urls: a list of pages to crawl)")
    if "url" not in values:
        values["url"] = values["urls"][0]  # a selection is anchored at its first page
    return CrawlConfig(**values)
