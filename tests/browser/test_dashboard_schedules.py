"""The Schedules card in a real browser: a crawl is scheduled every 24 hours and then at a cron
time, both listed with their next run; a refused setting shows the server's error; a schedule is
deleted; a site URL with markup stays text."""

from __future__ import annotations

from tests.support.browser import start_crawl
from tests.support.changing_site import ChangingSite, first_version

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips without playwright
    expect = None  # type: ignore[assignment]


def test_a_crawl_is_scheduled_listed_and_deleted_from_the_dashboard(watch, app_server, tmp_path):
    site = ChangingSite(first_version())
    try:
        crawl_id = start_crawl(watch, site.url("/docs/"), concurrency=4)
        expect(watch.locator("#crawl-state")).to_have_text("Completed: 8 pages saved", timeout=30_000)
        # offered as soon as the crawl is listed, without a reload or a click on the choice
        expect(watch.locator(f'#schedule-crawl option[value="{crawl_id}"]')).to_have_count(1)
        watch.select_option("#schedule-crawl", crawl_id)

        watch.fill("#schedule-hours", "0.25")  # under the server's floor (an hour)
        watch.locator("#schedule-form button[type=submit]").click()
        expect(watch.locator("#schedule-status")).to_have_text("every_hours must be between 1 and 8784, got 0.25")
        expect(watch.locator("#schedules li")).to_have_count(0)

        watch.fill("#schedule-hours", "24")
        watch.locator("#schedule-form button[type=submit]").click()
        expect(watch.locator("#schedule-status")).to_contain_text("Scheduled: next run ")
        rows = watch.locator("#schedules li.schedule-row")
        expect(rows).to_have_count(1)
        host = site.url("/docs/").split("://", 1)[1]
        expect(rows.first.locator(".schedule-site")).to_have_text(host)
        expect(rows.first.locator(".schedule-when")).to_contain_text("every 24 hours · next ")
        expect(rows.first.locator(".schedule-last")).to_have_text("not run yet · 0 runs")

        watch.select_option("#schedule-how", "cron")
        expect(watch.locator("#schedule-hours")).to_be_hidden()
        watch.fill("#schedule-cron", "0 3 * * *")
        watch.locator("#schedule-form button[type=submit]").click()
        expect(rows).to_have_count(2)
        expect(rows.nth(1).locator(".schedule-when")).to_contain_text("cron 0 3 * * * (UTC) · next ")
        watch.screenshot(path=str(tmp_path / "schedules.png"), full_page=True)

        rows.first.locator("button.schedule-delete").click()
        expect(rows).to_have_count(1)
        expect(watch.locator("#schedule-status")).to_have_text("Schedule deleted.")
        listed = watch.request.get(f"{app_server.base}/api/schedules").json()["schedules"]
        assert [s["cron"] for s in listed] == ["0 3 * * *"]
        rows.first.locator("button.schedule-delete").click()
        expect(rows).to_have_count(0)

        # A site address with markup in it is shown as text.
        hostile = site.url("/docs/<img/src=x/onerror=alert(1)>")
        made = watch.request.post(f"{app_server.base}/api/crawls", data={"url": hostile, "max_pages": 1})
        assert made.status == 202, made.text()
        scheduled = watch.request.post(f"{app_server.base}/api/schedules",
                                     data={"crawl_id": made.json()["crawl_id"], "every_hours": 24})
        assert scheduled.status == 201, scheduled.text()
        watch.reload()
        expect(rows).to_have_count(1)
        expect(rows.first.locator(".schedule-site")).to_contain_text("<img/src=x/onerror=alert(1)>")
        expect(watch.locator("#schedules img")).to_have_count(0)
        rows.first.locator("button.schedule-delete").click()
        expect(rows).to_have_count(0)
    finally:
        site.stop()
