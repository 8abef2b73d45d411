"""Schedules: "refresh this crawl every N hours" or "at these cron times".

A schedule names a crawl; each run is a refresh of it (`CrawlService.refresh`: conditional
requests, the change report, the webhook's `changes`), and the new crawl takes its place, so the
next run compares with the latest pages. The runs are fired by a :class:`ScheduleTicker`, a thread
the web server's app owns (started with it, closed with it), reading a :class:`ScheduleStore`:
a file in the data directory (embedded mode) or a Redis hash (cluster mode,
crawler/service/cluster/schedules.py). Before it fires a due run, a ticker claims it from the
store; of several web servers, exactly one gets each claim, so each run happens once.

A record the store holds is read as untrusted input (the file and Redis can be written by other
hands): one that does not validate is logged and skipped, never fired and never fatal.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from croniter import croniter

from crawler.engine.config import ConfigError
from crawler.engine.events import CrawlKind, iso_timestamp
from crawler.folder.paths import is_crawl_id
from crawler.folder.reader import read_json
from crawler.folder.writer import write_json
from crawler.service.crawls import CrawlService
from crawler.service.errors import NotRefreshable, UnknownCrawl

log = logging.getLogger(__name__)

SCHEDULE_ID = re.compile(r"^s-[0-9a-f]{16}$")
SCHEDULES_FILE = "schedules.json"
MAX_SCHEDULES_PER_SESSION = 20
MAX_EVERY_HOURS = 24 * 366
MAX_CRON_LENGTH = 100
LATEST = 1e11  # seconds since the epoch: no stored time is later
MIN_INTERVAL = 3600.0  # seconds: the default floor between two runs (ServerConfig.schedule_min_interval)


class BadSchedule(ValueError):
    """A stored schedule record that does not validate: skipped, never fired."""


def is_schedule_id(value: object) -> bool:
    return isinstance(value, str) and SCHEDULE_ID.fullmatch(value) is not None


def _iso(moment: float | None) -> str | None:
    return None if moment is None else iso_timestamp(datetime.fromtimestamp(moment, UTC))


def check_cron(expression: Any, min_interval: float, now: float | None = None) -> str:
    """A five-field cron expression (UTC) whose runs are at least `min_interval` apart."""
    if not isinstance(expression, str) or not expression.strip() or len(expression) > MAX_CRON_LENGTH:
        raise ConfigError(f"cron must be a cron expression of at most {MAX_CRON_LENGTH} characters, "
                          "e.g. \"0 3 * * *\" (every day at 03:00 UTC)")
    text = " ".join(expression.split())
    if len(text.split(" ")) != 5:
        raise ConfigError(f"cron must have five fields (minute hour day month weekday), got {text!r}")
    if not croniter.is_valid(text):
        raise ConfigError(f"cron {text!r} is not a valid cron expression")
    start = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    runs = croniter(text, start)
    times = [runs.get_next(float) for _ in range(6)]
    gap = min(later - earlier for earlier, later in zip(times, times[1:], strict=False))
    if gap < min_interval:
        raise ConfigError(f"cron {text!r} runs every {gap / 60:g} minutes: schedules run at most once every "
                          f"{min_interval / 3600:g} hours on this server")
    return text


def check_every_hours(value: Any, min_interval: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError("every_hours must be a number of hours, e.g. 6")
    hours = float(value)
    if hours * 3600 < min_interval or hours > MAX_EVERY_HOURS:
        raise ConfigError(f"every_hours must be between {min_interval / 3600:g} and {MAX_EVERY_HOURS}, got {hours:g}")
    return hours


@dataclass(frozen=True)
class Schedule:
    schedule_id: str
    owner: str
    crawl_id: str  # the crawl the next run refreshes: each run's new crawl takes its place
    site: str
    created_at: str
    next_run: float  # seconds since the epoch
    every_hours: float | None = None
    cron: str | None = None
    last_run: float | None = None
    last_crawl_id: str | None = None  # the crawl the last run started
    last_error: str | None = None
    runs: int = 0
    fallback: str | None = None  # the crawl refreshed before `crawl_id`, if that one saves no page

    def following(self, now: float) -> float:
        """The next run after `now`: on the interval's grid from the run that was due (runs missed
        while the server was down are not made up one by one), or the cron expression's next time."""
        if self.cron:
            return float(croniter(self.cron, datetime.fromtimestamp(now, UTC)).get_next(float))
        assert self.every_hours is not None
        step = self.every_hours * 3600
        missed = max(0, math.floor((now - self.next_run) / step))
        return self.next_run + (missed + 1) * step

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def public(self) -> dict[str, Any]:
        """The API's row (docs/events.md "Schedules")."""
        return {"schedule_id": self.schedule_id, "crawl_id": self.crawl_id, "site": self.site,
                "every_hours": self.every_hours, "cron": self.cron, "created_at": self.created_at,
                "next_run": _iso(self.next_run), "last_run": _iso(self.last_run),
                "last_crawl_id": self.last_crawl_id, "last_error": self.last_error, "runs": self.runs}

    @classmethod
    def from_dict(cls, data: Any, schedule_id: str | None = None) -> Schedule:
        """A stored record, checked field by field (BadSchedule otherwise)."""
        if not isinstance(data, dict):
            raise BadSchedule("not an object")
        unknown = set(data) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise BadSchedule(f"unknown fields {sorted(map(str, unknown))[:3]}")
        try:
            schedule = cls(**data)
        except TypeError as exc:
            raise BadSchedule(str(exc)) from None
        schedule._check(schedule_id)
        return schedule

    def _check(self, schedule_id: str | None) -> None:
        def number(value: Any) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

        if not is_schedule_id(self.schedule_id) or (schedule_id is not None and schedule_id != self.schedule_id):
            raise BadSchedule("its id is not a schedule id (or not the one it is stored under)")
        if not isinstance(self.owner, str) or not 0 < len(self.owner) <= 200:
            raise BadSchedule("no owner")
        for name in ("crawl_id", "last_crawl_id", "fallback"):
            value = getattr(self, name)
            if (value is not None or name == "crawl_id") and not is_crawl_id(value):
                raise BadSchedule(f"{name} is not a crawl id")
        if not isinstance(self.site, str) or len(self.site) > 2000 or not isinstance(self.created_at, str):
            raise BadSchedule("site or created_at is not text")
        if not number(self.next_run) or (self.last_run is not None and not number(self.last_run)):
            raise BadSchedule("next_run or last_run is not a time")
        if not 0 <= self.next_run < LATEST:
            raise BadSchedule("next_run is not a time between 1970 and 5138")
        if not isinstance(self.runs, int) or isinstance(self.runs, bool) or self.runs < 0:
            raise BadSchedule("runs is not a count")
        if self.last_error is not None and (not isinstance(self.last_error, str) or len(self.last_error) > 1000):
            raise BadSchedule("last_error is not a short text")
        if (self.every_hours is None) == (self.cron is None):
            raise BadSchedule("it needs exactly one of every_hours and cron")
        try:  # the floor is not applied here: it is the server's setting, and records outlive it
            if self.every_hours is not None:
                check_every_hours(self.every_hours, 0)
            else:
                check_cron(self.cron, 0)
        except ConfigError as exc:
            raise BadSchedule(str(exc)) from None
        if self.every_hours is not None and self.every_hours <= 0:
            raise BadSchedule("every_hours is not positive")


class ScheduleStore(Protocol):
    """Where schedules are kept. `all` skips (and logs) records that do not validate."""

    def all(self) -> list[Schedule]: ...
    def get(self, schedule_id: str) -> Schedule | None: ...
    def add(self, schedule: Schedule) -> None: ...
    def update(self, schedule: Schedule) -> bool: ...  # only if it still exists
    def remove(self, schedule_id: str) -> bool: ...
    def claim(self, schedule_id: str, due: float) -> bool: ...  # True for one caller per (schedule, due time)


class SkipLog:
    """Reads stored records: each one validated once per content (a ticker reads the store every
    second, and a cron expression costs ~1 ms to check), and a bad one said once, then skipped."""

    MAX_REMEMBERED = 10_000

    def __init__(self) -> None:
        self._said: set[str] = set()
        self._read: dict[tuple[str, str], Schedule | None] = {}

    def parse(self, schedule_id: str, raw: Any) -> Schedule | None:
        try:
            key = (str(schedule_id), raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True))
        except (TypeError, ValueError):
            key = None
        if key is not None and key in self._read:
            return self._read[key]
        schedule = self._parse(schedule_id, raw)
        if key is not None:
            if len(self._read) >= self.MAX_REMEMBERED:
                self._read.clear()
            self._read[key] = schedule
        return schedule

    def _parse(self, schedule_id: str, raw: Any) -> Schedule | None:
        try:
            if isinstance(raw, str):
                raw = json.loads(raw)
            return Schedule.from_dict(raw, schedule_id)
        except (BadSchedule, ValueError) as exc:
            key = f"{schedule_id!r}:{exc}"
            if key not in self._said and len(self._said) < self.MAX_REMEMBERED:
                self._said.add(key)
                log.error("schedule %r is skipped: its stored record is not valid (%s)", str(schedule_id)[:40], exc)
            return None


class FileScheduleStore:
    """The embedded mode's store: `<data-dir>/schedules.json`, rewritten atomically, read at start."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / SCHEDULES_FILE
        self._lock = threading.Lock()
        self._skip = SkipLog()
        self._claimed: dict[str, float] = {}
        self._raw: dict[str, Any] = self._load()

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            data = read_json(self.path)
            if not isinstance(data, dict) or not isinstance(data.get("schedules"), dict):
                raise ValueError("not an object with a \"schedules\" object")
            return dict(data["schedules"])
        except (OSError, ValueError) as exc:
            aside = self.path.with_name(f"{SCHEDULES_FILE}.damaged-{int(time.time())}")
            log.error("%s cannot be read (%s): kept as %s, starting with no schedules", self.path, exc, aside.name)
            try:
                self.path.replace(aside)
            except OSError:
                pass
            return {}

    def _save(self) -> None:
        write_json(self.path, {"schedules": self._raw})

    def all(self) -> list[Schedule]:
        with self._lock:
            items = list(self._raw.items())
        return [s for key, raw in items if (s := self._skip.parse(key, raw)) is not None]

    def get(self, schedule_id: str) -> Schedule | None:
        with self._lock:
            raw = self._raw.get(schedule_id)
        return None if raw is None else self._skip.parse(schedule_id, raw)

    def add(self, schedule: Schedule) -> None:
        with self._lock:
            self._raw[schedule.schedule_id] = schedule.to_dict()
            self._save()

    def update(self, schedule: Schedule) -> bool:
        with self._lock:
            if schedule.schedule_id not in self._raw:
                return False
            self._raw[schedule.schedule_id] = schedule.to_dict()
            self._save()
            return True

    def remove(self, schedule_id: str) -> bool:
        with self._lock:
            if self._raw.pop(schedule_id, None) is None:
                return False
            self._save()
            return True

    def claim(self, schedule_id: str, due: float) -> bool:
        with self._lock:
            raw = self._raw.get(schedule_id)
            if not isinstance(raw, dict) or raw.get("next_run") != due or self._claimed.get(schedule_id) == due:
                return False
            self._claimed[schedule_id] = due
            return True


class Schedules:
    """What the routes call: schedules of the caller's own crawls, and the runs."""

    def __init__(self, store: ScheduleStore, crawls: CrawlService, *, min_interval: float = MIN_INTERVAL) -> None:
        self.store = store
        self.crawls = crawls
        self.min_interval = min_interval

    def of(self, owner: str) -> list[Schedule]:
        return sorted((s for s in self.store.all() if s.owner == owner), key=lambda s: s.created_at)

    def create(self, owner: str, data: Any, now: float | None = None) -> Schedule:
        """Validate and add (ConfigError on bad input, UnknownCrawl for a crawl the caller does not own)."""
        if not isinstance(data, dict):
            raise ConfigError("the schedule must be a JSON object, e.g. {\"crawl_id\": \"...\", \"every_hours\": 6}")
        unknown = set(data) - {"crawl_id", "every_hours", "cron"}
        if unknown:
            raise ConfigError(f"unknown schedule setting {sorted(map(str, unknown))[0][:60]!r}; "
                              "known: crawl_id, every_hours, cron")
        crawl_id = data.get("crawl_id")
        if not is_crawl_id(crawl_id):
            raise ConfigError("crawl_id is required: the crawl to refresh (as in /api/crawls)")
        record = self.crawls.get(owner, crawl_id)  # UnknownCrawl: missing, or someone else's
        if record.kind != CrawlKind.CRAWL:
            raise NotRefreshable(f"{crawl_id} is a discovery: only crawls can be refreshed on a schedule")
        every, cron = data.get("every_hours"), data.get("cron")
        if (every is None) == (cron is None):
            raise ConfigError("give exactly one of every_hours (a number of hours) and cron (e.g. \"0 3 * * *\", UTC)")
        if len(self.of(owner)) >= MAX_SCHEDULES_PER_SESSION:
            raise ConfigError(f"you have {MAX_SCHEDULES_PER_SESSION} schedules already (the most a session may "
                              "have): delete one first")
        now = time.time() if now is None else now
        if every is not None:
            hours = check_every_hours(every, self.min_interval)
            first = now + hours * 3600
            text = None
        else:
            text = check_cron(cron, self.min_interval, now)
            hours = None
            first = float(croniter(text, datetime.fromtimestamp(now, UTC)).get_next(float))
        schedule = Schedule(f"s-{secrets.token_hex(8)}", owner, crawl_id, record.config.url, iso_timestamp(),
                            first, every_hours=hours, cron=text)
        self.store.add(schedule)
        return schedule

    def delete(self, owner: str, schedule_id: str) -> None:
        schedule = self.store.get(schedule_id) if is_schedule_id(schedule_id) else None
        if schedule is None or schedule.owner != owner:
            raise UnknownSchedule(f"unknown schedule {schedule_id[:40]!r}")
        self.store.remove(schedule_id)

    # ---- runs ----

    def due(self, now: float) -> list[Schedule]:
        return [s for s in self.store.all() if s.next_run <= now]

    def fire(self, schedule: Schedule, now: float) -> Schedule | None:
        """Claim the run that is due and start its refresh; None if another process claimed it."""
        if not self.store.claim(schedule.schedule_id, schedule.next_run):
            return None
        done = replace(schedule, next_run=schedule.following(now), last_run=now)
        try:
            record = self._refresh(schedule)
        except UnknownCrawl:
            done = replace(done, last_error="the crawl it refreshes was deleted")
        except ConfigError as exc:  # still running, no page saved, queue full, a target now refused...
            done = replace(done, last_error=f"skipped: {exc}"[:1000])
        except Exception as exc:
            log.exception("schedule %s: the refresh of %s could not start", schedule.schedule_id, schedule.crawl_id)
            done = replace(done, last_error=f"could not start: {exc.__class__.__name__}")
        else:
            done = replace(done, crawl_id=record.crawl_id, fallback=record.refresh_of, last_crawl_id=record.crawl_id,
                           last_error=None, runs=schedule.runs + 1)
            log.info("schedule %s: refreshing %s as %s", schedule.schedule_id, schedule.crawl_id, record.crawl_id)
        self.store.update(done)
        return done

    def _refresh(self, schedule: Schedule) -> Any:
        try:
            return self.crawls.refresh(schedule.owner, schedule.crawl_id)
        except NotRefreshable:
            # The last run saved no page (its site was down): refresh the crawl before it instead.
            old = self.crawls.states.get(schedule.crawl_id)
            if schedule.fallback is None or old is None or not old.state.is_final:
                raise
            return self.crawls.refresh(schedule.owner, schedule.fallback)


class UnknownSchedule(LookupError):
    """No such schedule for this session (it may exist, owned by someone else)."""


class ScheduleTicker:
    """The thread that fires due runs: every TICK seconds it reads the store and fires what is due."""

    TICK = 1.0

    def __init__(self, schedules: Schedules) -> None:
        self.schedules = schedules
        self._closing = threading.Event()
        self._unreachable = False
        self._thread = threading.Thread(target=self._run, name="schedules", daemon=True)

    def start(self) -> ScheduleTicker:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    def tick(self, now: float | None = None) -> int:
        """Fire every run that is due; how many this process fired."""
        now = time.time() if now is None else now
        fired = 0
        try:
            due = self.schedules.due(now)
        except Exception as exc:  # noqa: BLE001 - the store unreachable: try again next tick
            if not self._unreachable:  # said once per outage, not every second
                log.warning("schedules: cannot read the store (%s); trying again every %g s", exc, self.TICK)
            self._unreachable = True
            return 0
        if self._unreachable:
            log.info("schedules: the store is readable again")
            self._unreachable = False
        for schedule in due:
            if self._closing.is_set():
                break
            try:
                fired += self.schedules.fire(schedule, now) is not None
            except Exception:
                log.exception("schedule %s could not run", schedule.schedule_id)
        return fired

    def _run(self) -> None:
        # On the clock's whole ticks: every web server of a cluster looks at the same moments, and
        # the store's claim (not luck in timing) is what makes each run fire once.
        while not self._closing.wait(self.TICK - time.time() % self.TICK):
            self.tick()
