"""Schedules without a server: when the next run is, the file store (claims, damage), and the
checks a stored record must pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from crawler.engine.config import ConfigError
from crawler.service.schedules import (
    SCHEDULES_FILE,
    BadSchedule,
    FileScheduleStore,
    Schedule,
    check_cron,
    check_every_hours,
)

NOW = datetime(2026, 12, 2, 18, 0, tzinfo=UTC).timestamp()


def schedule(**fields) -> Schedule:
    values = {"schedule_id": "s-0123456789abcdef", "owner": "owner", "crawl_id": "20261202-180000-abcdef",
              "site": "https://docs.example.org/", "created_at": "2026-12-02T18:00:00.000Z", "next_run": NOW,
              "every_hours": 6.0, **fields}
    return Schedule(**values)


def test_an_interval_keeps_its_grid_and_skips_the_runs_missed_while_down():
    every_six = schedule()
    assert every_six.following(NOW + 1) == NOW + 6 * 3600
    assert every_six.following(NOW + 20 * 3600) == NOW + 24 * 3600  # three runs missed: not made up


def test_a_cron_schedule_runs_at_its_times_in_utc():
    nightly = schedule(every_hours=None, cron="0 3 * * *")
    assert datetime.fromtimestamp(nightly.following(NOW), UTC) == datetime(2026, 12, 3, 3, 0, tzinfo=UTC)


def test_the_floor_applies_to_intervals_and_to_cron_gaps():
    assert check_every_hours(2, 3600) == 2.0
    with pytest.raises(ConfigError, match="between 1 and"):
        check_every_hours(0.5, 3600)
    assert check_cron("0  */2 * * *", 3600) == "0 */2 * * *"
    with pytest.raises(ConfigError, match="runs every 1 minutes"):
        check_cron("* * * * *", 3600)
    with pytest.raises(ConfigError, match="runs every 5 minutes"):
        check_cron("0,5 3 * * *", 3600, NOW)  # the smallest gap counts, not the average


@pytest.mark.parametrize("change", [
    {"crawl_id": "../../etc/passwd"}, {"owner": ""}, {"next_run": float("nan")}, {"next_run": 1e300},
    {"every_hours": None}, {"cron": "0 3 * * *"}, {"every_hours": -1.0}, {"runs": -1}, {"runs": True},
    {"last_error": "x" * 2000}, {"fallback": "/tmp"}, {"schedule_id": "s-1"},
])
def test_a_record_that_does_not_validate_is_refused(change):
    record = schedule(**change).to_dict()
    with pytest.raises(BadSchedule):
        Schedule.from_dict(record, record["schedule_id"] if "schedule_id" not in change else None)


def test_the_file_store_claims_each_run_once_and_keeps_schedules_across_instances(tmp_path):
    store = FileScheduleStore(tmp_path)
    store.add(schedule())
    assert store.claim("s-0123456789abcdef", NOW) is True
    assert store.claim("s-0123456789abcdef", NOW) is False  # the same run again
    assert store.claim("s-0123456789abcdef", NOW + 1) is False  # not the run that is due
    assert store.update(schedule(next_run=NOW + 3600, runs=1))
    assert store.update(schedule(schedule_id="s-ffffffffffffffff")) is False  # deleted or never added: not created
    again = FileScheduleStore(tmp_path)
    assert again.all() == [schedule(next_run=NOW + 3600, runs=1)]
    assert again.remove("s-0123456789abcdef") and FileScheduleStore(tmp_path).all() == []


def test_a_damaged_file_is_kept_aside_and_the_store_starts_empty(tmp_path):
    (tmp_path / SCHEDULES_FILE).write_text("{not json")
    store = FileScheduleStore(tmp_path)
    assert store.all() == []
    [aside] = tmp_path.glob(f"{SCHEDULES_FILE}.damaged-*")
    assert aside.read_text() == "{not json"
    store.add(schedule())
    assert json.loads((tmp_path / SCHEDULES_FILE).read_text())["schedules"]["s-0123456789abcdef"]["owner"] == "owner"


def test_a_stored_record_is_checked_once_per_content_and_a_bad_one_said_once(caplog):
    from crawler.service.schedules import SkipLog

    reader = SkipLog()
    good = schedule(every_hours=None, cron="0 3 * * *").to_dict()
    first = reader.parse(good["schedule_id"], json.dumps(good))
    assert first is not None and reader.parse(good["schedule_id"], json.dumps(good)) is first  # not checked again
    changed = reader.parse(good["schedule_id"], json.dumps({**good, "runs": 1}))
    assert changed is not None and changed.runs == 1  # new content: read anew
    with caplog.at_level("ERROR"):
        for _ in range(3):
            assert reader.parse("s-0000000000000001", "{not json") is None
            assert reader.parse("s-0000000000000002", {**good, "crawl_id": "../x"}) is None
    assert len(caplog.records) == 2


def test_the_ticker_says_once_that_the_store_is_unreachable_and_goes_on(tmp_path, caplog):
    from crawler.service.schedules import Schedules, ScheduleTicker

    class Unreachable(FileScheduleStore):
        down = True

        def all(self):
            if self.down:
                raise ConnectionError("store down")
            return super().all()

    store = Unreachable(tmp_path)
    ticker = ScheduleTicker(Schedules(store, crawls=None, min_interval=1))  # type: ignore[arg-type]
    with caplog.at_level("INFO"):
        assert [ticker.tick(NOW) for _ in range(5)] == [0] * 5
        store.down = False
        assert ticker.tick(NOW) == 0
    messages = [record.getMessage() for record in caplog.records]
    assert sum("cannot read the store" in m for m in messages) == 1
    assert messages[-1] == "schedules: the store is readable again"
