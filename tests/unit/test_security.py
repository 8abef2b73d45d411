"""Hostile and careless input, session isolation, the access token, per-session limits and a
graceful SIGTERM: the real server in a subprocess, real HTTP and Socket.IO clients, local sites."""

from __future__ import annotations

import pytest

from crawler.engine.config import ConfigError, parse_crawl_config
from crawler.engine.urls import matches_any


def test_regex_patterns_are_searched_in_the_same_subject_as_globs():
    url = "https://docs.example.org/guide/api/v2/page.html?lang=en"
    assert matches_any(url, ("re:/api/v[0-9]+/",))
    assert matches_any(url, ("re:lang=(en|de)$",)), "the path subject includes the query"
    assert not matches_any(url, ("re:^/api/",)), "a path regex sees the path, which starts with /guide/"
    assert matches_any(url, ("re:^https://docs\\.example\\.org/guide/",)), "a regex starting with http sees the URL"
    assert not matches_any(url, ("re:^https://other\\.org/",))
    assert matches_any(url, ("/guide/*",)) and not matches_any(url, ("/api/*",)), "globs still match whole"
    config = parse_crawl_config({"url": "docs.example.org", "include": "re:/api/\n/guide/*", "exclude": ["re:\\.pdf$"]})
    assert config.include == ("re:/api/", "/guide/*") and config.exclude == ("re:\\.pdf$",)
    with pytest.raises(ConfigError, match="'re:' is empty"):
        parse_crawl_config({"url": "docs.example.org", "include": ["re:"]})


def test_a_runaway_regex_cannot_hang_the_crawl():
    # Catastrophic backtracking in stdlib re would hold the interpreter for minutes on this URL.
    evil = "re:^(\\w+\\s?)*$"
    url = "https://docs.example.org/" + "a" * 40 + "!"
    parse_crawl_config({"url": "docs.example.org", "exclude": [evil]})
    assert matches_any(url, (evil,)) is False


def test_server_settings_come_from_flags_over_environment():
    from crawler import dashboard as crawler_app

    env = {"CRAWLER_TOKEN": "env-token", "CRAWLER_MAX_CRAWLS_PER_SESSION": "3", "CRAWLER_MAX_QUEUED_PER_SESSION": "7"}
    config = crawler_app.server_config(crawler_app.parse_args([]), env)
    assert (config.token, config.max_crawls_per_session, config.max_queued_per_session) == ("env-token", 3, 7)
    flags = crawler_app.parse_args(["--token", "flag-token", "--max-crawls-per-session", "1",
                                    "--max-queued-per-session", "0", "--host", "0.0.0.0"])
    config = crawler_app.server_config(flags, env)
    assert (config.token, config.max_crawls_per_session, config.max_queued_per_session) == ("flag-token", 1, 0)
    assert crawler_app.server_config(crawler_app.parse_args([]), {}).token is None, "loopback: no token"
    generated = crawler_app.server_config(crawler_app.parse_args(["--host", "0.0.0.0"]), {}).token
    assert generated and len(generated) >= 24
    with pytest.raises(ValueError, match="max_crawls_per_session must be at least 1"):
        crawler_app.server_config(crawler_app.parse_args(["--max-crawls-per-session", "0"]), {})
    with pytest.raises(ValueError, match="CRAWLER_MAX_QUEUED_PER_SESSION must be a whole number"):
        crawler_app.server_config(crawler_app.parse_args([]), {"CRAWLER_MAX_QUEUED_PER_SESSION": "many"})
