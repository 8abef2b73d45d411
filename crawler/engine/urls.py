"""Pure URL helpers: canonical form, scope, include/exclude globs.

One canonical form per page is what keeps a crawl from fetching the same page under several
URLs: ``/a/./b#x``, ``/a/b``, ``HTTP://Host:80/a/b``, ``/a/b?utm_source=x`` are one page, and
``/guide/index.html`` is ``/guide/``. Tracking parameters are recognised by courlan's list (the
URL library behind trafilatura), the rest is RFC 3986 normalisation.

Session ids are dropped too (``;jsessionid=…`` path parameters, ``PHPSESSID``, ``sid``,
``ASPSESSIONID…``, ``CFID``/``CFTOKEN``… query parameters, ASP.NET's ``/(S(…))/`` segment): a site
that writes a fresh session id into every link would otherwise be an endless supply of "new"
URLs for one page.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import regex as _regex  # unlike the standard re, a search can be given a time limit
from courlan.clean import TRACKERS_RE

DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = "-._~"
INDEX_FILES = ("index.html", "index.htm", "index.php", "index.shtml")
SESSION_PARAM_RE = re.compile(
    r"^(?:phpsessid|sid|sessid|sessionid|session_id|jsessionid|aspsessionid[a-z]*|cfid|cftoken)$", re.IGNORECASE)
# ;jsessionid=… (Java servlets) and friends, as a path parameter of any segment.
_SESSION_PATH_PARAM_RE = re.compile(r";(?:jsessionid|phpsessid|sessionid|sid)=[^/;?#]*", re.IGNORECASE)
# ASP.NET cookieless sessions: /(S(lit3py55t21z5v55vlm25s55))/page.aspx
_ASPNET_SESSION_SEGMENT_RE = re.compile(r"/\([SAF]\([A-Za-z0-9_-]{8,}\)\)(?=/)")


def _normalize_path(path: str) -> str:
    """Resolve dot segments, collapse duplicate slashes, normalise percent-escapes."""
    if not path:
        return "/"
    path = _ASPNET_SESSION_SEGMENT_RE.sub("", _SESSION_PATH_PARAM_RE.sub("", path))
    trailing = path.endswith("/")
    # Re-quote each segment so %7e and ~ (and raw spaces and %20) compare equal.
    segments = [quote(unquote(seg), safe=_UNRESERVED + "!$&'()*+,;=:@") for seg in path.split("/")]
    path = "/".join(segments)
    path = re.sub(r"/{2,}", "/", path)
    resolved = posixpath.normpath(path)
    if resolved in (".", ""):
        resolved = "/"
    if not resolved.startswith("/"):
        resolved = "/" + resolved
    if resolved.startswith("//"):
        resolved = "/" + resolved.lstrip("/")
    if trailing and not resolved.endswith("/"):
        resolved += "/"
    head, _, last = resolved.rpartition("/")
    if last.lower() in INDEX_FILES:
        resolved = head + "/"
    return resolved


def _normalize_query(query: str) -> str:
    if not query:
        return ""
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)
             if not TRACKERS_RE.search(k.lower()) and not SESSION_PARAM_RE.match(k)]
    pairs.sort()
    return urlencode(pairs, doseq=True)


def hash_route(fragment: str) -> str:
    """The route a fragment names on a hash-routed site (`#/guide/install`, `#!/guide`), in
    canonical form (path normalised, its `?id=` section anchor dropped); '' when it names none or
    names the home route (`#/`, the document itself)."""
    if not fragment.startswith(("/", "!/")):
        return ""
    bang = "!" if fragment.startswith("!") else ""
    path = _normalize_path(fragment[len(bang):].split("?", 1)[0])
    return "" if path == "/" else bang + path


def canonical_url(url: str, keep_route: bool = False) -> str | None:
    """Return the canonical form of an absolute http(s) URL, or None if it is not crawlable.

    Fragments are dropped, except a hash route (`#/path`) when `keep_route` (a hash-routed host,
    where routes name distinct pages: crawler/render/)."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        host = parts.hostname.lower().rstrip(".")
        port = parts.port
    except ValueError:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    fragment = hash_route(parts.fragment) if keep_route else ""
    return urlunsplit((scheme, netloc, _normalize_path(parts.path), _normalize_query(parts.query), fragment))


def scope_prefix(start_url: str) -> str:
    """The path prefix a `prefix`-scoped crawl stays under: the start URL's directory."""
    path = urlsplit(start_url).path or "/"
    return path if path.endswith("/") else path.rsplit("/", 1)[0] + "/"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def host_of(url: str) -> str:
    """The host (and port, when not the default) that politeness limits are counted per."""
    return urlsplit(url).netloc


def _site_domain(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def in_scope(url: str, start_url: str, scope: str) -> bool:
    """True when `url` (canonical) belongs to the crawl that started at `start_url` (canonical).

    prefix: same scheme and host, under the start URL's directory. host: anywhere on that host.
    subdomains: that host or any host under its domain (docs.x.org → api.docs.x.org; www.x.org →
    x.org and *.x.org), either scheme.
    """
    target, start = urlsplit(url), urlsplit(start_url)
    if scope == "subdomains":
        domain = _site_domain(start.hostname or "")
        host = target.hostname or ""
        return target.scheme in ("http", "https") and (host == domain or host.endswith("." + domain))
    if target.scheme != start.scheme or target.netloc != start.netloc:
        return False
    if scope == "host":
        return True
    return target.path.startswith(scope_prefix(start_url))


REGEX_PREFIX = "re:"
REGEX_TIMEOUT = 0.05  # seconds one regex may spend on one URL before it counts as not matching


@lru_cache(maxsize=512)
def _compile_glob(pattern: str) -> Callable[[str], bool]:
    """A glob matches the whole subject; `re:<regex>` is searched in it (validated in config)."""
    if not pattern.startswith(REGEX_PREFIX):
        glob = re.compile(fnmatch.translate(pattern))

        def match(subject: str) -> bool:
            return glob.match(subject) is not None

        return match
    expression = pattern[len(REGEX_PREFIX):]
    try:
        compiled = _regex.compile(expression)
    except _regex.error as exc:
        # Never fall back to the standard `re`: it has no time limit. Config validation refuses
        # such a pattern at input, so only a pattern that skipped validation gets here.
        raise ValueError(f"pattern {pattern!r} cannot run in the time-limited regex engine: {exc}") from None

    def search(subject: str) -> bool:
        try:
            return compiled.search(subject, timeout=REGEX_TIMEOUT, concurrent=True) is not None
        except TimeoutError:
            return False

    return search


def _sees_full_url(pattern: str) -> bool:
    if pattern.startswith(REGEX_PREFIX):
        return pattern[len(REGEX_PREFIX):].lstrip("^").startswith("http")
    return pattern.startswith(("http://", "https://"))


def matches_any(url: str, patterns: tuple[str, ...]) -> bool:
    """Patterns starting with a scheme (a regex: `http`, after an optional ^) see the whole URL,
    others the path + query."""
    if not patterns:
        return False
    parts = urlsplit(url)
    path_and_query = parts.path + (f"?{parts.query}" if parts.query else "")
    for pattern in patterns:
        subject = url if _sees_full_url(pattern) else path_and_query
        if _compile_glob(pattern)(subject):
            return True
    return False


def passes_filters(url: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    if include and not matches_any(url, include):
        return False
    return not matches_any(url, exclude)
