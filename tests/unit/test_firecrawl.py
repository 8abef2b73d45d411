"""Firecrawl's v2 bodies into crawl settings (crawler/service/firecrawl.py) and crawl folders into
its documents (crawler/outputs/firecrawl.py): every supported field maps, every other one is
named in the refusal, and what the official SDK sends by default is accepted."""

from __future__ import annotations

import pytest
from firecrawl.v2.methods.crawl import _prepare_crawl_request
from firecrawl.v2.methods.map import _prepare_map_request
from firecrawl.v2.methods.scrape import _prepare_scrape_request
from firecrawl.v2.types import CrawlRequest, MapOptions, ScrapeOptions
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.engine.config import ConfigError, parse_crawl_config
from crawler.outputs.firecrawl import without_base64_images
from crawler.service import firecrawl as fc

URL = "https://docs.example.org/guide/"


def test_crawl_fields_map_onto_the_crawl_settings():
    t = fc.crawl_settings({
        "url": URL, "limit": 25, "includePaths": ["guide/.*"], "excludePaths": [r"\.pdf$"],
        "maxDiscoveryDepth": 2, "sitemap": "skip", "allowSubdomains": False, "crawlEntireDomain": True,
        "ignoreRobotsTxt": True, "delay": 1.5, "maxConcurrency": 3,
        "scrapeOptions": {"formats": ["markdown", {"type": "links"}, "html"], "onlyMainContent": True,
                          "includeTags": ["main .content", "#api"], "excludeTags": [".banner"],
                          "removeBase64Images": False, "timeout": 15000},
    })
    config = parse_crawl_config(t.settings)
    assert (config.url, config.max_pages, config.max_depth, config.use_sitemaps) == (URL, 25, 2, False)
    assert config.include == ("re:guide/.*",) and config.exclude == (r"re:\.pdf$",)
    assert (config.scope, config.respect_robots, config.delay, config.concurrency) == ("host", False, 1.5, 3)
    assert config.content_selector == "main .content, #api" and config.exclude_selectors == (".banner",)
    assert config.timeout == 15
    assert t.options == {"formats": ["markdown", "links", "html"], "removeBase64Images": False}


def test_defaults_are_firecrawls_and_subdomains_widen_the_scope():
    config = parse_crawl_config(fc.crawl_settings({"url": URL}).settings)
    assert (config.max_pages, config.max_depth, config.scope, config.use_sitemaps) == (10_000, 100, "prefix", True)
    assert parse_crawl_config(fc.crawl_settings({"url": URL, "allowSubdomains": True,
                                                 "crawlEntireDomain": True}).settings).scope == "subdomains"
    assert fc.crawl_settings({"url": URL}).options == {"formats": ["markdown"], "removeBase64Images": True}


def test_every_unsupported_and_unknown_field_is_named_in_one_refusal():
    with pytest.raises(fc.FirecrawlRequestError) as refused:
        fc.crawl_settings({"url": URL, "limitt": 5, "prompt": "docs only", "allowExternalLinks": True,
                           "mobile": True, "zeroDataRetention": True,
                           "scrapeOptions": {"formats": ["rawHtml", "screenshot", "markdown", "bogus"],
                                             "actions": [{"type": "click"}], "waitFor": 500,
                                             "onlyMainContent": False, "headers": {"X": "1"}}})
    message = str(refused.value)
    for part in ("unknown field 'limitt' (did you mean 'limit'?)", "prompt is not supported",
                 "allowExternalLinks is accepted only as false", "unknown field 'mobile' (it belongs in scrapeOptions)",
                 "zeroDataRetention is accepted only as false", "the rawHtml format is not supported",
                 "the screenshot format is not supported", "unknown format 'bogus'",
                 "scrapeOptions.actions is not supported", "scrapeOptions.waitFor is accepted only as 0",
                 "scrapeOptions.onlyMainContent is accepted only as true", "scrapeOptions.headers is accepted only as {}"):
        assert part in message, (part, message)


@pytest.mark.parametrize(("body", "words"), [
    ({"limit": 10**9}, "limit must be a whole number from 1 to 100,000"),
    ({"limit": 0}, "limit must be a whole number from 1 to 100,000"),
    ({"limit": "5"}, "limit must be a whole number"),
    ({"limit": True}, "limit must be a whole number"),
    ({"limit": float("inf")}, "limit must be a whole number"),
    ({"limit": float("nan")}, "limit must be a whole number"),
    ({"limit": 7.5}, "limit must be a whole number"),
    ({"maxConcurrency": -float("inf")}, "maxConcurrency must be a whole number from 1 to 64"),
    ({"scrapeOptions": {"maxAge": float("inf")}}, "scrapeOptions.maxAge must be a whole number of milliseconds"),
    ({"delay": float("nan")}, "delay must be a number of seconds from 0 to 60"),
    ({"maxDiscoveryDepth": -1}, "maxDiscoveryDepth must be a whole number from 0 to 100"),
    ({"includePaths": ["docs/(api"]}, "includePaths: include pattern 're:docs/(api' is not a valid regular expression"),
    ({"includePaths": "docs"}, "includePaths must be a list of strings"),
    ({"scrapeOptions": {"includeTags": ["div["]}}, "includeTags: content_selector 'div[' is not a valid CSS selector"),
    ({"scrapeOptions": {"excludeTags": ["p", "a["]}, "excludePaths": ["x"]},
     "scrapeOptions.excludeTags: exclude_selectors 'a[' is not a valid CSS selector"),
    ({"sitemap": "only"}, "sitemap \"only\" is not supported for a crawl"),
    ({"webhook": {"url": "https://hooks.example.org/x", "secret": "s" * 20}},
     "unknown field webhook.secret (a webhook takes url, headers, metadata, events)"),
    ({"webhook": {"url": "https://hooks.example.org/x", "events": ["changes"]}},
     "webhook.events must be a non-empty list of started, page, completed, failed"),
    ({"webhook": {"url": "ftp://hooks.example.org/x"}}, "webhook.url must start with http:// or https://"),
    ({"webhook": 5}, "webhook must be a URL or an object"),
    ({"regexOnFullURL": True, "includePaths": ["guide/"]}, "regexOnFullURL: includePaths pattern 'guide/'"),
    ({"url": "ftp://docs.example.org/"}, "url must start with http:// or https://"),
    ({"url": ""}, "url is required"),
])
def test_bad_values_name_their_field(body, words):
    with pytest.raises(fc.FirecrawlRequestError) as refused:
        fc.crawl_settings({"url": URL, **body})
    assert words in str(refused.value)


def test_firecrawls_webhook_becomes_the_crawls_webhook_setting():
    short = parse_crawl_config(fc.crawl_settings({"url": URL, "webhook": "https://hooks.example.org/x"}).settings)
    assert short.webhook is not None and short.webhook.url == "https://hooks.example.org/x"
    assert short.webhook.events == ("started", "page", "completed", "failed") and short.webhook.secret is None
    full = parse_crawl_config(fc.crawl_settings({"url": URL, "webhook": {
        "url": "https://hooks.example.org/x", "headers": {"Authorization": "Bearer abc"},
        "metadata": {"project": "docs"}, "events": ["completed", "failed"]}}).settings).webhook
    assert full is not None and full.events == ("completed", "failed")
    assert full.headers == (("Authorization", "Bearer abc"),) and full.metadata == {"project": "docs"}


def test_regex_on_full_url_is_honoured_by_patterns_that_see_the_whole_url():
    t = fc.crawl_settings({"url": URL, "regexOnFullURL": True, "includePaths": [r"^https://docs\.example\.org/guide/"]})
    assert parse_crawl_config(t.settings).include == (r"re:^https://docs\.example\.org/guide/",)


def test_a_scrape_is_a_crawl_of_its_page_alone():
    t = fc.scrape_settings({"url": URL, "formats": ["html"], "timeout": 9000, "maxAge": 0})
    config = parse_crawl_config(t.settings)
    assert config.urls == (URL,) and config.max_pages == 1 and not config.use_sitemaps
    assert config.timeout == 9 and t.wait == 9 and t.formats == ["html"]
    with pytest.raises(fc.FirecrawlRequestError, match="timeout must be a number of milliseconds from 1000 to 600000"):
        fc.scrape_settings({"url": URL, "timeout": 10**9})


def test_map_fields():
    asked = fc.map_settings({"url": URL, "limit": 40, "sitemap": "only", "includeSubdomains": True,
                             "ignoreQueryParameters": False, "search": "install", "timeout": 30000})
    config = parse_crawl_config(asked.settings)
    assert (config.max_pages, config.scope, config.use_sitemaps, config.max_depth) == (40, "subdomains", True, 1)
    assert (asked.sitemap_only, asked.strip_query, asked.search, asked.wait) == (True, False, "install", 30)
    by_path = fc.map_settings({"url": URL, "filterByPath": False})
    assert parse_crawl_config(by_path.settings).scope == "host" and by_path.strip_query
    with pytest.raises(fc.FirecrawlRequestError, match="limit must be a whole number from 1 to 100,000"):
        fc.map_settings({"url": URL, "limit": 100_001})


def test_what_the_official_sdk_sends_is_accepted():
    """The SDK's own request builders (firecrawl-py), with its defaults filled in: a scrape with
    options, a crawl with every convenience flag it always sends, a map."""
    options = ScrapeOptions(formats=["markdown", "html", "links"], only_main_content=True)
    scrape = _prepare_scrape_request(URL, options) | {"origin": "python-sdk@test"}
    assert {"mobile", "blockAds", "maxAge", "storeInCache", "removeBase64Images", "fastMode"} <= set(scrape)
    assert fc.scrape_settings(scrape).formats == ["markdown", "html", "links"]

    crawl = _prepare_crawl_request(CrawlRequest(
        url=URL, limit=5, include_paths=["guide/.*"], exclude_paths=None, max_discovery_depth=3, sitemap="include",
        ignore_query_parameters=False, crawl_entire_domain=False, allow_external_links=False, allow_subdomains=False,
        ignore_robots_txt=False, deduplicate_similar_urls=True, regex_on_full_url=False, zero_data_retention=False,
        scrape_options=options)) | {"origin": "python-sdk@test"}
    assert {"deduplicateSimilarURLs", "regexOnFullURL", "zeroDataRetention", "ignoreQueryParameters"} <= set(crawl)
    assert parse_crawl_config(fc.crawl_settings(crawl).settings).max_pages == 5

    mapped = _prepare_map_request(URL, MapOptions(limit=20, sitemap="include", include_subdomains=False))
    assert parse_crawl_config(fc.map_settings(mapped).settings).max_pages == 20


def test_base64_images_are_replaced_and_other_images_kept():
    markdown = "A ![logo](data:image/png;base64,iVBORw0KGgo=) and ![plan](https://docs.example.org/plan.png)."
    assert without_base64_images(markdown) == (
        "A ![logo](<Base64-Image-Removed>) and ![plan](https://docs.example.org/plan.png).")


def test_job_status_is_firecrawls():
    from crawler.engine.events import State

    assert [fc.job_status(s) for s in State] == ["scraping", "scraping", "scraping", "scraping", "cancelled",
                                                "completed", "failed", "failed"]


def test_documents_page_through_a_growing_crawl_folder(tmp_path):
    """Pages in crawl order from `skip`, at most `limit` and about `max_bytes` (always one), with
    the formats asked for; a page saved later appears on the next read; a gone file says so."""
    from crawler.engine.events import PageStatus
    from crawler.engine.extract import page_document
    from crawler.folder.writer import CrawlStore
    from crawler.outputs.firecrawl import document_page, map_links

    store = CrawlStore(tmp_path)
    store.open()

    def save(i: int) -> None:
        url = f"https://docs.example.org/p{i}.html"
        store.record_discovered(url, "sitemap" if i % 2 else "link", 1)
        store.save_page(url=url, document=page_document(f"P{i}", url, f"Body {i} ![x](data:image/png;base64,AAAA)"),
                        title=f"P{i}", depth=1, http_status=200, words=2, fetched_at="t", description=f"About {i}",
                        links=[f"https://docs.example.org/p{i + 1}.html"])

    for i in range(5):
        save(i)
    store.record(url="https://docs.example.org/broken.html", status=PageStatus.FAILED, error="HTTP 404", depth=1,
                 http_status=404, fetched_at="t", reason="http_error")
    page = document_page(tmp_path, 1, 3, ["markdown", "links"])
    assert [d["metadata"]["sourceURL"] for d in page.documents] == [f"https://docs.example.org/p{i}.html" for i in (1, 2, 3)]
    assert (page.next_skip, page.more) == (4, True)
    first = page.documents[0]
    assert first["markdown"] == "Body 1 ![x](<Base64-Image-Removed>)" and first["links"] == ["https://docs.example.org/p2.html"]
    assert first["metadata"] | {} == {"title": "P1", "sourceURL": "https://docs.example.org/p1.html",
                                      "url": "https://docs.example.org/p1.html", "statusCode": 200,
                                      "contentType": "text/html", "description": "About 1"}
    kept = document_page(tmp_path, 0, 1, ["html"], remove_base64_images=False).documents[0]
    assert set(kept) == {"html", "metadata"} and "<img" not in kept["html"] and 'href="data:' not in kept["html"]
    assert "data:image/png;base64,AAAA" in kept["html"]  # kept as asked: the renderer leaves a data: URL as text
    assert len(document_page(tmp_path, 0, 100, ["markdown"], max_bytes=10).documents) == 1

    save(5)
    (tmp_path / "pages" / "p0.md").unlink()
    everything = document_page(tmp_path, 0, 100, ["markdown"])
    assert len(everything.documents) == 6 and not everything.more
    assert everything.documents[0]["metadata"]["error"] == "the page's file is gone"
    assert document_page(tmp_path, 6, 100, ["markdown"]).documents == []
    store.close()

    links = map_links(tmp_path, limit=100, sitemap_only=True, search="about 3")
    assert links == [{"url": "https://docs.example.org/p3.html", "title": "P3", "description": "About 3"}]


_NAMES = sorted({*fc.SCRAPE_OPTIONS, *fc.COMMON, *fc.CRAWLER_OPTIONS, *fc.REFUSED_FIELDS, "timeout", "search",
                 "includeSubdomains", "filterByPath", "useIndex", "allowSubdomains", "crawlEntireDomain",
                 "regexOnFullURL", "url", "type", "events", "headers", "metadata", "zzz"})
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(
        ["markdown", "html", "links", "rawHtml", "only", "skip", "include", "basic", "https://hooks.example.org/x",
         "div[", "re:(", "(", "*", "ftp://x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_NAMES), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(_NAMES), _VALUES, max_size=8))
def test_any_body_is_translated_or_refused_with_a_message(body):
    """Whatever a caller sends, the answer is settings the crawl accepts or a refusal with words,
    never another exception (a 500)."""
    body = {**body, "url": body.get("url") if isinstance(body.get("url"), str) else URL}
    for translate in (fc.crawl_settings, fc.scrape_settings, fc.map_settings):
        try:
            asked = translate(body)
        except ConfigError as exc:
            assert str(exc).strip()
        else:
            settings_ = asked.settings
            parse_crawl_config(settings_)
