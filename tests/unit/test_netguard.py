"""Safe targets: which addresses are refused, and that the refusal holds at connect time."""

from __future__ import annotations

import threading

import pytest
import requests

from crawler.engine.config import ConfigError, normalize_start_url
from crawler.engine.errors import FetchFailed
from crawler.engine.fetch import SessionPool, fetch_page
from crawler.engine.netguard import (
    BlockedAddress,
    ensure_public_target,
    guard_session,
    non_public_reason,
)
from tests.support.site import DocSite, SiteOptions


@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("10.0.0.1", "private"),
    ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("169.254.169.254", "link-local"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("0.0.0.0", "unspecified"),
    ("100.64.0.1", "not globally routable"), ("::1", "loopback"), ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"), ("fc00::1", "private"), ("ff02::1", "multicast"), ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "link-local"), ("::ffff:10.0.0.1", "private"),
    ("93.184.216.34", None), ("2606:4700::1111", None), ("::ffff:93.184.216.34", None),
])
def test_address_classes(address, reason):
    assert non_public_reason(address) == reason


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/", "javascript:alert(1)",
                                 "data:text/html,<h1>x</h1>", "FILE:/etc/passwd", "gopher://x.org/"])
def test_only_http_and_https_are_accepted(url):
    with pytest.raises(ConfigError, match="http:// or https://"):
        normalize_start_url(url)


def test_host_and_port_without_a_scheme_is_still_a_web_address():
    assert normalize_start_url("localhost:8000/docs/") == "https://localhost:8000/docs/"


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://localhost:9/", "http://[::1]/",
                                 "http://169.254.169.254/latest/meta-data/", "http://0x7f000001/",
                                 "http://2130706433/", "http://[::ffff:127.0.0.1]/"])
def test_typed_urls_that_name_this_machine_are_refused(url):
    with pytest.raises(ConfigError, match="--allow-private-targets"):
        ensure_public_target(url)


@pytest.fixture
def local_site():
    site = DocSite(SiteOptions(pages=3, extra_links=False)).start()
    yield site
    site.stop()


def test_every_connection_is_checked_not_only_the_typed_url(local_site):
    """A name that resolves to loopback (the DNS-rebinding case) is refused when connecting."""
    pool = SessionPool("test-agent", address_policy=non_public_reason)
    try:
        with pytest.raises(FetchFailed) as failure:
            fetch_page(pool.get(), f"http://localhost:{local_site.port}/docs/", timeout=5,
                       stop=threading.Event(), check_redirect=lambda target: None)
        assert failure.value.code == "blocked_address"
        assert "127.0.0.1 is a loopback address" in failure.value.reason
        assert not local_site.requests, "no byte of the request may reach the refused address"
    finally:
        pool.close()


def test_robots_and_sitemap_fetches_are_guarded_too(local_site):
    session = guard_session(requests.Session(), non_public_reason)
    with pytest.raises(BlockedAddress):
        session.get(local_site.base + "/robots.txt", timeout=5)
    with pytest.raises(requests.ConnectionError):  # code that handles connection errors handles this
        session.get(local_site.base + "/sitemap.xml", timeout=5)
    assert not local_site.requests


def test_without_a_policy_local_sites_are_reachable(local_site):
    pool = SessionPool("test-agent", address_policy=None)
    try:
        page = fetch_page(pool.get(), local_site.base + "/docs/", timeout=5, stop=threading.Event(),
                          check_redirect=lambda target: None)
        assert page.http_status == 200
    finally:
        pool.close()
