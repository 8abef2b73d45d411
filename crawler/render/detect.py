"""Does this HTML need a browser? Cheap checks on the fetched bytes, and a memory per host.

A page needs rendering when its HTML carries almost no visible text *and* the signs of a
client-rendered shell: a known generator that renders in the browser (Docsify), a `<noscript>`
asking for JavaScript, or an empty application root (`<div id="app"></div>`) with scripts. The
signs are looked for first, with a few searches over at most the first 256 KB; the visible text is
counted only on a page that shows one, so a server-rendered page costs a few microseconds.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass, field

SCAN_BYTES = 256 * 1024
MIN_WORDS = 40  # a shell's own words ("Loading…", a title) stay far below this
_GENERATOR = re.compile(rb"window\.\$docsify|/docsify(?:@[\w.^~-]+)?/(?:lib/)?docsify(?:\.min)?\.js"
                        rb"|<meta[^>]+name=[\"']?generator[\"']?[^>]+content=[\"']?docsify")
_NOSCRIPT = re.compile(rb"<noscript[^>]*>(?:(?!</noscript).){0,600}?(?:javascript|enable\s+js|js\s+enabled)", re.DOTALL)
# An application root: an element with one of these ids, empty (or holding one empty wrapper or a
# "loading" placeholder of a few words), or a custom element like <app-root></app-root>.
_ROOT_ID = re.compile(rb"id=[\"']?(?:app|root|__next|__nuxt|svelte|q-app|main|application|react-root|vue-app)[\"'\s>]")
_ROOT_CONTENT = re.compile(rb"\s*(?:<(?!/)[^>]*>\s*)?(?:[^<]{0,40})(?:</|<script)")
_CUSTOM_ROOT = re.compile(rb"<(?:app-root|[a-z]+-app)(?:\s[^>]*)?>\s*</")
_INVISIBLE = re.compile(rb"<(script|style|noscript|template|svg|head)\b.*?</\1\s*>|<!--.*?-->", re.DOTALL)  # on lowercased bytes
_TAG = re.compile(rb"<[^>]*>")
_WORD = re.compile(rb"[A-Za-z0-9\x80-\xff]{2,}")  # non-ASCII bytes count as letters


def visible_words(html: bytes) -> int:
    """Words a reader would see without scripts (tags, scripts, styles and the head removed)."""
    text = _TAG.sub(b" ", _INVISIBLE.sub(b" ", html[:SCAN_BYTES]))
    return len(_WORD.findall(text))


def shell_reason(html: bytes) -> str | None:
    """Why this HTML looks like a page that only exists after JavaScript runs, or None.

    `docsify`: a Docsify site; `noscript`: a <noscript> asking for JavaScript; `app_shell`: an
    empty application root and scripts. Only with (almost) no visible text.
    """
    head = html[:SCAN_BYTES].lower()
    if b"docsify" in head and _GENERATOR.search(head):
        reason = "docsify"
    elif b"<noscript" in head and _NOSCRIPT.search(head):
        reason = "noscript"
    elif b"<script" in head and _has_empty_root(head):
        reason = "app_shell"
    else:
        return None
    return reason if visible_words(head) < MIN_WORDS else None


def _has_empty_root(head: bytes) -> bool:
    for match in _ROOT_ID.finditer(head):
        tag_end = head.find(b">", match.start())
        if tag_end >= 0 and _ROOT_CONTENT.match(head, tag_end + 1):
            return True
    return (b"-app" in head or b"app-root" in head) and _CUSTOM_ROOT.search(head) is not None


REASON_TEXT = {
    "docsify": "a Docsify site (rendered in the browser)",
    "noscript": "the page asks for JavaScript",
    "app_shell": "an empty application shell filled by scripts",
    "host": "its host's pages need JavaScript",
    "always": "render is set to always",
}


@dataclass
class _Host:
    seen: deque = field(default_factory=lambda: deque(maxlen=HostMemory.WINDOW))  # needed rendering? per page
    handed: int = 0
    announced: bool = False


class HostMemory:
    """Per crawl: which hosts' pages keep needing a browser.

    Once `DIRECT_AFTER` of a host's recent pages needed rendering (and most of its recent pages
    did), its pages go to the browser directly, without the HTTP fetch first; every
    `SAMPLE_EVERY`-th of them is still fetched over HTTP first and judged, so a site that is only
    partly client-rendered drops back to plain fetching when the samples stop needing a browser.
    """

    DIRECT_AFTER = 3
    SAMPLE_EVERY = 5
    WINDOW = 10
    SHARE = 0.6

    def __init__(self) -> None:
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()

    def _direct(self, state: _Host) -> bool:
        needed = sum(state.seen)
        return needed >= self.DIRECT_AFTER and needed >= self.SHARE * len(state.seen)

    def render_directly(self, host: str) -> bool:
        """Whether this request of `host` goes straight to the browser (False: fetched first)."""
        with self._lock:
            state = self._hosts.get(host)
            if state is None or not self._direct(state):
                return False
            state.handed += 1
            return state.handed % self.SAMPLE_EVERY != 0

    def observe(self, host: str, needed: bool) -> bool:
        """Record a judged page; True the first time the host turns to direct rendering."""
        with self._lock:
            state = self._hosts.setdefault(host, _Host())
            state.seen.append(needed)
            if self._direct(state) and not state.announced:
                state.announced = True
                return True
            if not self._direct(state):
                state.announced = False
            return False
