"""Cluster coordination in Redis, shared by web servers and workers.

- **Queue.** Crawls wait in one list in arrival order. `dispatch` (any process may call it; it is
  one Lua script) moves the first eligible ones — a session below its running limit — into the
  `dispatched` set while worker slots are free, and sends each a Celery job. The same rule as the
  embedded backend, cluster-wide.
- **Lease.** A worker takes `lease:<id>` atomically (SET NX) before it opens the crawl's folder and
  renews it from its heartbeat; a second delivery of the same job finds the lease taken and does
  nothing. A lease that expires means its worker died.
- **Sweep.** Every process sweeps every `SWEEP_INTERVAL` seconds: a dispatched crawl whose lease
  has expired and whose runner has not been seen for a lease period is `interrupted` (worker
  lost), its summary counted from its manifest; a dispatched job nobody picked up is sent again.
  A worker renews its leases last at the moment it dies at the latest, so its crawls show
  `interrupted` at most `interrupted_within(lease)` seconds later: one lease, one sweep interval
  and a margin for the sweep itself and the events (15 s by default, as the README says).
- **Stop.** `stop:<id>` holds the reason and a message on the `stops` channel wakes the worker
  running the crawl, which mirrors it into the crawl's local stop event.
- **Rebuild.** A Redis that lost its data (restarted without persistence) is noticed by the missing
  `epoch` key; the first process to notice reloads the records from the crawl folders.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from crawler.engine.events import Event, State, iso_timestamp
from crawler.folder.paths import crawl_folder, is_crawl_id
from crawler.folder.writer import write_json
from crawler.service.cluster.redis_states import RedisCrawlStates, guarded, reply
from crawler.service.history import lost_summary, read_history, write_crawl_meta
from crawler.service.records import CrawlRecord

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 2.0  # every process (web servers and workers) sweeps this often
SWEEP_MARGIN = 1.0  # the sweep's own work and its events reaching the browsers, on a busy machine
INTERRUPTED_WITHIN = 15.0  # the documented bound: kill -9 of a worker to its crawls shown `interrupted`
LEASE_SECONDS = INTERRUPTED_WITHIN - SWEEP_INTERVAL - SWEEP_MARGIN  # 12 s
PICKUP_GRACE = 30.0  # a dispatched job not started by then is sent again
WORKER_TTL = 10.0
STOP_CHANNEL = "stops"
WORKER_LOST = "worker lost"

Announce = Callable[[str, str, dict[str, Any]], None]  # (owner, event, payload)


def interrupted_within(lease_seconds: float) -> float:
    """The most seconds from a worker's death to its crawls shown `interrupted`: the lease it
    renewed last, the sweep that finds it expired, that sweep's work and events."""
    return lease_seconds + SWEEP_INTERVAL + SWEEP_MARGIN

_ENQUEUE = """
local n = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if redis.call('HGET', KEYS[2], id) == ARGV[2] then n = n + 1 end
end
if n >= tonumber(ARGV[3]) then return -n - 1 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return n + 1
"""

_DISPATCH = """
local free = tonumber(ARGV[1]) - redis.call('HLEN', KEYS[3])
if free <= 0 then return {} end
local per_owner = {}
for _, owner in ipairs(redis.call('HVALS', KEYS[3])) do per_owner[owner] = (per_owner[owner] or 0) + 1 end
local picked = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if free <= 0 then break end
  local owner = redis.call('HGET', KEYS[2], id)
  if (per_owner[owner] or 0) < tonumber(ARGV[2]) then
    redis.call('LREM', KEYS[1], 1, id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HSET', KEYS[3], id, owner)
    redis.call('HSET', KEYS[4], id, ARGV[3])
    per_owner[owner] = (per_owner[owner] or 0) + 1
    free = free - 1
    table.insert(picked, id)
  end
end
return picked
"""

_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Cluster:
    """The coordination primitives over one Redis (see the module docstring)."""

    def __init__(self, states: RedisCrawlStates, data_dir: Path, announce: Announce, *,
                 send_job: Callable[[str], None], max_per_session: int = 2,
                 lease_seconds: float = LEASE_SECONDS) -> None:
        self.states = states
        self.redis: redis.Redis = states.redis
        self.data_dir = Path(data_dir)
        self.announce = announce
        self.send_job = send_job
        self.max_per_session = max_per_session
        self.lease_seconds = lease_seconds
        self._enqueue = self.redis.register_script(_ENQUEUE)
        self._dispatch = self.redis.register_script(_DISPATCH)
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)
        self._reachable_since: float | None = None

    def key(self, *parts: str) -> str:
        return self.states.key(*parts)

    # ---- queue ----

    @guarded
    def queued_of(self, owner: str) -> int:
        ids = reply(self.redis.lrange(self.key("queue"), 0, -1))
        owners = reply(self.redis.hmget(self.key("queue_owner"), ids)) if ids else []
        return sum(1 for o in owners if o == owner)

    @guarded
    def queue_length(self) -> int:
        return int(reply(self.redis.llen(self.key("queue"))))

    @guarded
    def enqueue(self, crawl_id: str, owner: str, max_queued: int) -> int:
        """Append in arrival order; a negative answer -(n+1) means the owner already has n waiting."""
        return int(self._enqueue(keys=[self.key("queue"), self.key("queue_owner")],
                                 args=[crawl_id, owner, max_queued]))

    @guarded
    def publish_limits(self) -> None:
        """The per-session running limit, as the web servers were given it (workers dispatch too)."""
        self.redis.hset(self.key("limits"), "max_per_session", str(self.max_per_session))

    @guarded
    def unqueue(self, crawl_id: str) -> bool:
        """Take a crawl out of the queue before any worker got it; False if it was dispatched already."""
        pipe = self.redis.pipeline()
        pipe.lrem(self.key("queue"), 1, crawl_id)
        pipe.hdel(self.key("queue_owner"), crawl_id)
        return bool(pipe.execute()[0])

    @guarded
    def dispatch(self) -> list[str]:
        """Hand waiting crawls to free worker slots, in arrival order per the session limits."""
        capacity = sum(worker["slots"] for worker in self.workers())
        limit = reply(self.redis.hget(self.key("limits"), "max_per_session")) or self.max_per_session
        picked = self._dispatch(keys=[self.key("queue"), self.key("queue_owner"), self.key("dispatched"),
                                      self.key("dispatched_at")],
                                args=[capacity, int(limit), time.time()])
        for crawl_id in picked:
            self.send_job(crawl_id)
        return list(picked)

    @guarded
    def undispatch(self, crawl_id: str) -> None:
        """The crawl's run ended: its slot is free."""
        pipe = self.redis.pipeline()
        pipe.hdel(self.key("dispatched"), crawl_id)
        pipe.hdel(self.key("dispatched_at"), crawl_id)
        pipe.execute()

    @guarded
    def hold_slot(self, crawl_id: str, owner: str) -> None:
        """Count a crawl a worker runs as dispatched (after a Redis that lost its data came back)."""
        self.redis.hsetnx(self.key("dispatched"), crawl_id, owner)
        self.redis.hsetnx(self.key("dispatched_at"), crawl_id, str(time.time()))

    # ---- leases ----

    @guarded
    def take_lease(self, crawl_id: str, worker_id: str) -> bool:
        return bool(self.redis.set(self.key("lease", crawl_id), worker_id, nx=True,
                                   px=int(self.lease_seconds * 1000)))

    @guarded
    def renew_lease(self, crawl_id: str, worker_id: str) -> int:
        """1 renewed, 2 taken again (it had expired, or Redis lost it), 0 held by another worker."""
        return int(self._renew(keys=[self.key("lease", crawl_id)],
                               args=[worker_id, int(self.lease_seconds * 1000)]))

    @guarded
    def release_lease(self, crawl_id: str, worker_id: str) -> None:
        self._release(keys=[self.key("lease", crawl_id)], args=[worker_id])

    @guarded
    def lease_holder(self, crawl_id: str) -> str | None:
        return reply(self.redis.get(self.key("lease", crawl_id)))

    # ---- stop flags ----

    @guarded
    def request_stop(self, crawl_id: str, reason: str) -> None:
        self.redis.set(self.key("stop", crawl_id), reason, ex=7 * 24 * 3600)
        self.redis.publish(self.key(STOP_CHANNEL), crawl_id)

    @guarded
    def stop_reason(self, crawl_id: str) -> str | None:
        return reply(self.redis.get(self.key("stop", crawl_id)))

    @guarded
    def clear_stop(self, crawl_id: str) -> None:
        self.redis.delete(self.key("stop", crawl_id))

    # ---- workers ----

    @guarded
    def beat(self, worker_id: str, info: dict[str, Any]) -> None:
        self.redis.set(self.key("worker", worker_id), json.dumps(info), px=int(WORKER_TTL * 1000))

    @guarded
    def workers(self) -> list[dict[str, Any]]:
        keys = list(self.redis.scan_iter(match=self.key("worker", "*"), count=100))
        values = reply(self.redis.mget(keys)) if keys else []
        found = []
        for key, value in zip(keys, values, strict=True):
            try:
                worker = json.loads(value) if value else None
            except ValueError:
                worker = None
            if not (isinstance(worker, dict) and isinstance(worker.get("id"), str)
                    and all(isinstance(worker.get(n), int) and worker[n] >= 0 for n in ("slots", "free"))):
                if value:
                    log.error("ignoring the worker heartbeat %s in Redis: not one a worker writes", key[:100])
                continue
            found.append(worker)
        return sorted(found, key=lambda w: w["id"])

    @guarded
    def forget_worker(self, worker_id: str) -> None:
        self.redis.delete(self.key("worker", worker_id))

    # ---- upkeep ----

    def upkeep(self) -> None:
        """What every process does every couple of seconds: rebuild after a data loss, sweep, dispatch.
        Never raises: Redis trouble is logged and the next round tries again."""
        try:
            self.rebuild_if_lost()
            self.sweep()
            self.dispatch()
        except Exception as exc:  # noqa: BLE001 - upkeep never raises: the next round tries again
            if self._reachable_since is not None:
                log.warning("cluster upkeep failed: %s", exc)
            self._reachable_since = None

    @guarded
    def rebuild_if_lost(self) -> None:
        if self.redis.exists(self.key("epoch")):
            return
        if not self.redis.set(self.key("rebuild"), "1", nx=True, ex=60):
            return  # someone else is rebuilding
        records = list(read_history(self.data_dir, running_is_lost=False))
        now = time.time()
        for record in records:
            if not record.state.is_final:
                record.seen_at = now  # its worker gets a lease period to say it still runs it
        added = self.states.add_missing(records)
        for record in records:
            if not record.state.is_final:
                self.hold_slot(record.crawl_id, record.owner)
        self.redis.set(self.key("epoch"), iso_timestamp())
        self.redis.delete(self.key("rebuild"))
        log.info("Redis had no crawl records: %d rebuilt from the crawl folders", added)

    @guarded
    def sweep(self) -> None:
        """Find crawls whose worker died (lease expired) and jobs nobody picked up."""
        now = time.time()
        if self._reachable_since is None:
            self._reachable_since = now
        if now - self._reachable_since < self.lease_seconds:
            return  # just (re)connected: give workers a lease period to renew before judging them
        dispatched = reply(self.redis.hgetall(self.key("dispatched_at")))
        for crawl_id, at in dispatched.items():
            if not is_crawl_id(crawl_id):
                log.error("refusing the dispatched entry %r in Redis: not a crawl id; dropped", crawl_id[:100])
                self.undispatch(crawl_id)
                continue
            try:
                at = float(at)
            except ValueError:
                at = 0.0
            if self.redis.exists(self.key("lease", crawl_id)):
                continue
            record = self.states.get(crawl_id)
            if record is None or record.state.is_final:
                self.undispatch(crawl_id)
                continue
            if record.state == State.QUEUED and record.worker is None:
                if now - at > PICKUP_GRACE:
                    log.warning("crawl %s was dispatched %.0f s ago and not started: sending it again",
                                crawl_id, now - at)
                    self.redis.hset(self.key("dispatched_at"), crawl_id, str(now))
                    self.send_job(crawl_id)
                continue
            if record.seen_at is not None and now - record.seen_at < self.lease_seconds:
                continue
            self.mark_lost(record)

    def mark_lost(self, record: CrawlRecord, reason: str = WORKER_LOST) -> bool:
        """`interrupted` (resumable), summary counted from the manifest; only one process wins."""
        message = f"interrupted ({reason}): resume to continue"
        if not self.states.transition(record.crawl_id, State.INTERRUPTED, message,
                                      allowed_from=[s for s in State if not s.is_final]):
            return False
        self.end_without_runner(record, State.INTERRUPTED, reason, message)
        self.undispatch(record.crawl_id)
        log.warning("crawl %s: %s", record.crawl_id, message)
        return True

    def end_without_runner(self, record: CrawlRecord, state: State, reason: str, message: str) -> None:
        """End a crawl no runner will end (its worker died, or none ever took it): the summary,
        counted from its manifest, and crawl.json on disk; the record; both closing events."""
        crawl_dir = crawl_folder(self.data_dir, record.crawl_id)
        summary = lost_summary(crawl_dir, record, state, reason)
        try:
            write_json(crawl_dir / "summary.json", summary)
        except OSError:
            log.exception("could not write the summary of %s", record.crawl_id)
        write_crawl_meta(crawl_dir, record, state)
        self.states.finish(record.crawl_id, state, summary)
        self.states.set_state(record.crawl_id, state, message)
        self.announce(record.owner, Event.STATUS.value, {"crawl_id": record.crawl_id, "state": state.value,
                                                         "message": message, "timestamp": iso_timestamp()})
        self.announce(record.owner, Event.FINISHED.value, {"crawl_id": record.crawl_id, "state": state.value,
                                                           "summary": summary})
