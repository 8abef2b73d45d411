"""Rendering decided without a browser: shells told from pages, hash routes, the browser policy,
the per-host memory, the setting's validation."""

from __future__ import annotations

import pytest

from crawler.engine.config import ConfigError, parse_crawl_config
from crawler.engine.parse import find_links, parse_document
from crawler.engine.urls import canonical_url
from crawler.folder.writer import relative_page_path
from crawler.render import (
    BrowserPolicy,
    check_render_setting,
)
from crawler.render.detect import HostMemory, shell_reason
from tests.support.render import RENDER_TESTS
from tests.support.render_sites import DOCSIFY_DIR

pytestmark = RENDER_TESTS


# ---------------------------------------------------------------- deciding, without a browser


def test_a_client_rendered_shell_is_told_from_a_server_rendered_page() -> None:
    assert shell_reason((DOCSIFY_DIR / "index.html").read_bytes()) == "docsify"
    assert shell_reason(b"<body><noscript>Please enable JavaScript.</noscript><div id=root></div></body>") == "noscript"
    assert shell_reason(b'<body><div id="app"><p>Loading...</p></div><script src="/a.js"></script></body>') == "app_shell"
    assert shell_reason(b"<body><app-root></app-root><script src=main.js></script></body>") == "app_shell"
    words = b" ".join(b"word%d" % i for i in range(200))
    # A real page with a noscript note or an app root filled on the server renders nothing.
    assert shell_reason(b"<body><div id=app><p>" + words + b"</p></div><noscript>enable JavaScript</noscript>"
                        b"<script src=s.js></script></body>") is None
    assert shell_reason(b"<body><div id=app></div><p>" + words + b"</p><script></script></body>") is None
    assert shell_reason(b"<body><div id=app></div></body>") is None  # no script: nothing would fill it


def test_hash_routes_are_pages_only_where_kept() -> None:
    assert canonical_url("http://h/docs/#/guide/install") == "http://h/docs/"
    assert canonical_url("http://h/docs/#/guide/./install?id=options", keep_route=True) == "http://h/docs/#/guide/install"
    assert canonical_url("http://h/docs/#!/guide", keep_route=True) == "http://h/docs/#!/guide"
    assert canonical_url("http://h/docs/#/", keep_route=True) == "http://h/docs/"  # the home route is the page
    assert canonical_url("http://h/docs/#section", keep_route=True) == "http://h/docs/"
    assert relative_page_path("http://h/docs/#/guide/install") == "pages/docs/guide/install.md"
    assert relative_page_path("http://h/app.html#/a") == "pages/app/a.md"
    tree = parse_document(b'<a href="#/guide">g</a><a href="#top">t</a><a href="other.html#/x">o</a>')
    assert find_links(tree, "http://h/docs/") == ["http://h/docs/other.html"]
    assert find_links(tree, "http://h/docs/", keep_routes=True) == ["http://h/docs/#/guide",
                                                                     "http://h/docs/other.html#/x"]


def test_the_browser_policy_is_the_fetchers_rule_with_exceptions_by_port() -> None:
    closed = BrowserPolicy(allowed=frozenset({"127.0.0.1:8123"}))
    assert closed.refusal("127.0.0.1", 8123) is None
    assert closed.refusal("127.0.0.1", 8124) == "loopback"
    assert closed.refusal("10.1.2.3", 80) == "private"
    assert closed.refusal("93.184.216.34", 443) is None
    dashboard = BrowserPolicy(allow_private=True, denied=frozenset({"127.0.0.1:5000", "*:6000"}))
    assert dashboard.refusal("127.0.0.1", 5001) is None
    assert dashboard.refusal("::ffff:127.0.0.1", 5000) == "the crawler's own service (its dashboard or Redis)"
    assert dashboard.refusal("192.168.1.9", 6000) == "the crawler's own service (its dashboard or Redis)"


def test_a_host_renders_directly_after_a_few_pages_and_samples_keep_it_honest() -> None:
    memory = HostMemory()
    assert [memory.observe("h", True) for _ in range(3)] == [False, False, True]
    direct = [memory.render_directly("h") for _ in range(10)]
    assert direct.count(False) == 2  # every fifth page is still fetched first and judged
    for _ in range(10):  # the samples stop needing a browser: back to plain fetching
        memory.observe("h", False)
    assert not any(memory.render_directly("h") for _ in range(5))


def test_the_setting_is_validated_and_always_needs_a_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_crawl_config({"url": "https://docs.example.org/"}).render == "auto"
    with pytest.raises(ConfigError, match="render must be one of auto, never, always"):
        parse_crawl_config({"url": "https://docs.example.org/", "render": "sometimes"})
    check_render_setting("always")  # a browser is installed here
    monkeypatch.setenv("CRAWLER_CHROMIUM", "none")
    with pytest.raises(ConfigError, match="render is set to always, but pages cannot be rendered here"):
        check_render_setting("always")
    check_render_setting("auto")
