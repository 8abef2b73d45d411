"""The "API keys" panel in Chromium: a key made and shown once, a crawl started with it live in the
session's dashboard, another browser signed in with it, and signed out the moment it is revoked."""

from __future__ import annotations

import re

import requests

from tests.support.browser import open_dashboard
from tests.support.server import ServerProcess

try:
    from playwright.sync_api import Browser, expect
except ImportError:  # pragma: no cover - the browser fixture skips without playwright
    expect = None  # type: ignore[assignment]


def test_a_key_is_shown_once_works_live_and_signs_another_browser_in_until_revoked(
        browser: Browser, server: ServerProcess, make_site, tmp_path):
    owner, owner_errors = open_dashboard(browser, server.base)
    other, other_errors = open_dashboard(browser, server.base)
    try:
        panel = owner.locator("#keys-panel")
        expect(panel.locator(".empty-note")).to_be_visible()
        panel.locator("#keys-name").fill("laptop <b>script</b>")
        panel.get_by_role("button", name="Create key").click()
        value = panel.locator("#keys-new-value")
        expect(value).to_have_value(re.compile(r"^cdk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$"))
        key = value.input_value()
        row = panel.locator(".keys-row")
        expect(row).to_have_count(1)
        expect(row.locator(".keys-name")).to_have_text("laptop <b>script</b>")  # text, never HTML
        expect(row.locator(".keys-used")).to_have_text("never used")
        panel.scroll_into_view_if_needed()
        owner.screenshot(path=str(tmp_path / "keys-made.png"))

        # A crawl started with the key, from a script, shows up live in the session's dashboard.
        site = make_site(pages=3)
        started = requests.post(server.base + "/api/crawls", json={"url": site.url(0), "max_pages": 3},
                                headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert started.status_code == 202, started.text
        crawl_id = started.json()["crawl_id"]
        expect(owner.locator(f'#history .history-row[data-crawl-id="{crawl_id}"]')).to_be_visible(timeout=15_000)

        # Shown once: after a reload the key is nowhere on the page, its last use is.
        owner.reload()
        expect(owner.locator("#connection")).to_have_text("Connected")
        expect(row.locator(".keys-used")).to_have_text(re.compile(r"^used \d{4}-\d\d-\d\d \d\d:\d\d$"))
        assert key not in owner.content() and key.split("_", 2)[2] not in owner.content()
        expect(owner.locator("#keys-new")).to_be_hidden()

        # Another browser signs in with the key: the key's session's crawls, and no key making there.
        expect(other.locator(f'#history .history-row[data-crawl-id="{crawl_id}"]')).to_have_count(0)
        other.locator("#keys-sign-in-value").fill(key[:-2])
        other.get_by_role("button", name="Sign in with a key").click()
        expect(other.locator("#keys-error")).to_have_text(re.compile("the API key is not valid"))
        other.locator("#keys-sign-in-value").fill(key)
        other.get_by_role("button", name="Sign in with a key").click()
        expect(other.locator("#keys-signed-in")).to_be_visible()
        expect(other.locator("#keys-signed-in-text")).to_contain_text("laptop <b>script</b>")
        expect(other.locator(f'#history .history-row[data-crawl-id="{crawl_id}"]')).to_be_visible()
        expect(other.locator("#connection")).to_have_text("Connected")
        expect(other.locator("#keys-create")).to_be_hidden()
        other.evaluate("window.scrollTo(0, 0)")
        other.screenshot(path=str(tmp_path / "keys-signed-in.png"))

        # Revoked in the owner's browser: the other browser is signed out at once, back to its own session.
        owner.once("dialog", lambda dialog: dialog.accept())
        row.locator(".keys-revoke").click()
        expect(row).to_have_count(0)
        expect(other.locator("#keys-signed-in")).to_be_hidden(timeout=10_000)
        expect(other.locator("#connection")).to_have_text("Connected")
        expect(other.locator(f'#history .history-row[data-crawl-id="{crawl_id}"]')).to_have_count(0)
        expect(other.locator("#keys-create")).to_be_visible()
        # The crawl stays the owner's.
        expect(owner.locator(f'#history .history-row[data-crawl-id="{crawl_id}"]')).to_be_visible()
    finally:
        other.context.close()
        owner.context.close()
    assert not owner_errors and not other_errors, (owner_errors, other_errors)
