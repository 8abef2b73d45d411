"""The crawl-state store in Redis (cluster mode): the same interface as the in-memory one.

Keys (all under one prefix): ``crawl:<id>`` a hash with the record's fields (config, progress and
summary as JSON), ``owner:<session>`` the set of a session's crawl ids, ``active`` the ids not in
a final state, ``log:<id>`` and ``pages:<id>`` the recent lines (capped lists). State changes that
must not race (a stop against the crawl's own end, two resumes) are one Lua script each.
"""

from __future__ import annotations

import builtins
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import redis

from crawler.engine.config import parse_crawl_config
from crawler.engine.events import CrawlKind, State
from crawler.folder.paths import is_crawl_id
from crawler.service.errors import BadRecord, StoreUnavailable
from crawler.service.records import RECENT_LINES, CrawlRecord, RecentLines

log = logging.getLogger(__name__)

PREFIX = "crawler:"
FINAL_STATES = [state.value for state in State if state.is_final]
T = TypeVar("T")


def reply(answer: Awaitable[T] | T) -> T:
    """A command's answer. redis-py types each command for its synchronous and asyncio clients at
    once (`Awaitable[X] | X`); the clients here are synchronous, so the answer is never awaitable."""
    assert not isinstance(answer, Awaitable)
    return answer

# KEYS: crawl hash, active set. ARGV: id, state, message, only_if_not_final_to_nonfinal ("engine") or
# "cas", then (for cas) the allowed current states. Final states are listed after a "|" marker.
_SET_STATE = """
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return 0 end
local final = {}
local i = 5
while ARGV[i] ~= '|' do i = i + 1 end
for j = i + 1, #ARGV do final[ARGV[j]] = true end
if ARGV[4] == 'engine' then
  if final[current] and not final[ARGV[2]] then return 0 end
else
  local allowed = false
  for j = 5, i - 1 do if ARGV[j] == current then allowed = true end end
  if not allowed then return 0 end
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'message', ARGV[3])
if final[ARGV[2]] then redis.call('SREM', KEYS[2], ARGV[1]) else redis.call('SADD', KEYS[2], ARGV[1]) end
if ARGV[2] == 'queued' then redis.call('HDEL', KEYS[1], 'summary') end
return 1
"""


def redis_client(url: str) -> redis.Redis:
    """A client that gives up quickly: Redis trouble must answer 503 or be skipped, never hang."""
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=2, socket_connect_timeout=1,
                                health_check_interval=10)


def unavailable_message(exc: Exception) -> str:
    return f"the cluster's Redis cannot be reached ({exc.__class__.__name__}); try again in a moment"


def guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Redis connection trouble becomes StoreUnavailable (a 503 for the routes)."""
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(unavailable_message(exc)) from exc
    return call


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def record_fields(record: CrawlRecord) -> dict[str, str]:
    fields = {"crawl_id": record.crawl_id, "owner": record.owner, "kind": record.kind,
              "config": _dumps(record.config.to_dict()), "created_at": record.created_at,
              "state": record.state.value, "message": record.message}
    if record.summary is not None:
        fields["summary"] = _dumps(record.summary)
    if record.progress is not None:
        fields["progress"] = _dumps(record.progress)
    if record.worker:
        fields["worker"] = record.worker
    if record.seen_at is not None:
        fields["seen_at"] = str(record.seen_at)
    if record.refresh_of:
        fields["refresh_of"] = record.refresh_of
    return fields




def record_from(fields: dict[str, str], crawl_id: str | None = None) -> CrawlRecord:
    """The record of a crawl hash, checked as the web server checks a request: its id well formed
    (and the one it is stored under, when given), `refresh_of` a well-formed id, a known kind, an
    owner, settings that validate. BadRecord otherwise: Redis is shared, and an id or path in it
    names a folder on this machine."""
    def loaded(name: str) -> Any:
        return json.loads(fields[name]) if fields.get(name) else None

    stored_id, refresh_of = fields.get("crawl_id"), fields.get("refresh_of") or None
    if not is_crawl_id(stored_id):
        raise BadRecord(f"its crawl_id {str(stored_id)[:100]!r} is not a crawl id")
    if crawl_id is not None and stored_id != crawl_id:
        raise BadRecord(f"it is stored under {crawl_id} but names crawl_id {stored_id}")
    if refresh_of is not None and not is_crawl_id(refresh_of):
        raise BadRecord(f"its refresh_of {refresh_of[:100]!r} is not a crawl id")
    if fields.get("kind", CrawlKind.CRAWL) not in {kind.value for kind in CrawlKind}:
        raise BadRecord(f"its kind {fields.get('kind', '')[:100]!r} is not one of {', '.join(CrawlKind)}")
    if not fields.get("owner"):
        raise BadRecord("it has no owner")
    try:
        return CrawlRecord(stored_id, fields["owner"], parse_crawl_config(loaded("config")),
                           fields["created_at"], kind=CrawlKind(fields.get("kind", CrawlKind.CRAWL)), state=State(fields["state"]),
                           message=fields.get("message", ""), summary=loaded("summary"), progress=loaded("progress"),
                           worker=fields.get("worker") or None,
                           seen_at=float(fields["seen_at"]) if fields.get("seen_at") else None,
                           refresh_of=refresh_of)
    except Exception as exc:  # bad JSON, settings, state, number: one refusal
        raise BadRecord(f"it does not parse: {exc.__class__.__name__}: {str(exc)[:200]}") from exc


class RedisCrawlStates:
    """CrawlStates over one Redis database (shared by every web server and worker)."""

    def __init__(self, client: redis.Redis, prefix: str = PREFIX) -> None:
        self.redis = client
        self.prefix = prefix
        self._set_state = client.register_script(_SET_STATE)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @guarded
    def add(self, record: CrawlRecord) -> None:
        pipe = self.redis.pipeline()
        pipe.delete(self.key("crawl", record.crawl_id))
        pipe.hset(self.key("crawl", record.crawl_id), mapping=record_fields(record))
        pipe.sadd(self.key("owner", record.owner), record.crawl_id)
        if record.state.is_final:
            pipe.srem(self.key("active"), record.crawl_id)
        else:
            pipe.sadd(self.key("active"), record.crawl_id)
        pipe.execute()

    @guarded
    def add_missing(self, records: Iterable[CrawlRecord]) -> int:
        added = 0
        for record in records:
            if self.redis.hsetnx(self.key("crawl", record.crawl_id), "crawl_id", record.crawl_id):
                self.add(record)
                added += 1
        return added

    @guarded
    def load(self, crawl_id: str) -> CrawlRecord | None:
        """The crawl's record, None if there is none; BadRecord if it is not one to act on."""
        if not is_crawl_id(crawl_id):
            raise BadRecord(f"{str(crawl_id)[:100]!r} is not a crawl id")
        fields = reply(self.redis.hgetall(self.key("crawl", crawl_id)))
        return record_from(fields, crawl_id) if fields.get("owner") else None  # a half-written hash: none yet

    def get(self, crawl_id: str) -> CrawlRecord | None:
        """As `load`, with a record that is not one to act on logged and answered as none."""
        try:
            return self.load(crawl_id)
        except BadRecord as exc:
            log.error("refusing the crawl record %s in Redis: %s", str(crawl_id)[:100], exc)
            return None

    @guarded
    def list(self, owner: str) -> list[CrawlRecord]:
        ids = sorted(reply(self.redis.smembers(self.key("owner", owner))), reverse=True)
        pipe = self.redis.pipeline()
        for crawl_id in ids:
            pipe.hgetall(self.key("crawl", crawl_id))
        records = []
        for crawl_id, fields in zip(ids, pipe.execute(), strict=True):
            if fields.get("owner") != owner:
                continue
            try:
                records.append(record_from(fields, crawl_id))
            except BadRecord as exc:
                log.error("refusing the crawl record %s in Redis: %s", str(crawl_id)[:100], exc)
        return records

    def _state_script(self, crawl_id: str, state: State, message: str, mode: str, allowed: Iterable[State]) -> bool:
        args = [crawl_id, state.value, message, mode, *[s.value for s in allowed], "|", *FINAL_STATES]
        return bool(self._set_state(keys=[self.key("crawl", crawl_id), self.key("active")], args=args))

    @guarded
    def transition(self, crawl_id: str, state: State, message: str, allowed_from: Iterable[State]) -> bool:
        return self._state_script(crawl_id, state, message, "cas", allowed_from)

    @guarded
    def set_state(self, crawl_id: str, state: State, message: str) -> None:
        self._state_script(crawl_id, state, message, "engine", ())

    @guarded
    def set_progress(self, crawl_id: str, snapshot: dict[str, Any]) -> None:
        self.redis.hset(self.key("crawl", crawl_id), "progress", _dumps(snapshot))

    @guarded
    def finish(self, crawl_id: str, state: State, summary: dict[str, Any]) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(self.key("crawl", crawl_id), mapping={"state": state.value, "summary": _dumps(summary)})
        pipe.hdel(self.key("crawl", crawl_id), "worker")
        pipe.srem(self.key("active"), crawl_id)
        pipe.execute()

    @guarded
    def add_recent(self, crawl_id: str, logs: RecentLines, pages: RecentLines) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for name, items in (("log", logs), ("pages", pages)):
            if items:
                pipe.rpush(self.key(name, crawl_id), *[_dumps(item) for item in items])
                pipe.ltrim(self.key(name, crawl_id), -RECENT_LINES, -1)
        pipe.execute()

    @guarded
    def recent(self, crawl_id: str) -> tuple[RecentLines, RecentLines]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.lrange(self.key("log", crawl_id), 0, -1)
        pipe.lrange(self.key("pages", crawl_id), 0, -1)
        logs, pages = pipe.execute()
        return [json.loads(line) for line in logs], [json.loads(page) for page in pages]

    @guarded
    def clear_recent(self, crawl_id: str) -> None:
        self.redis.delete(self.key("log", crawl_id), self.key("pages", crawl_id))

    @guarded
    def set_worker(self, crawl_id: str, worker: str | None) -> None:
        key = self.key("crawl", crawl_id)
        if worker is None:
            self.redis.hdel(key, "worker")
        else:
            self.redis.hset(key, mapping={"worker": worker, "seen_at": str(time.time())})

    @guarded
    def remove(self, crawl_id: str) -> None:
        owner = reply(self.redis.hget(self.key("crawl", crawl_id), "owner"))
        pipe = self.redis.pipeline()
        pipe.delete(self.key("crawl", crawl_id), self.key("log", crawl_id), self.key("pages", crawl_id))
        pipe.srem(self.key("active"), crawl_id)
        if owner:
            pipe.srem(self.key("owner", owner), crawl_id)
        pipe.execute()

    @guarded
    def active_count(self) -> int:
        return int(reply(self.redis.scard(self.key("active"))))

    @guarded
    def active_ids(self) -> builtins.list[str]:
        return sorted(reply(self.redis.smembers(self.key("active"))))

    @guarded
    def active_states(self) -> dict[str, int]:
        pipe = self.redis.pipeline()
        for crawl_id in reply(self.redis.smembers(self.key("active"))):
            pipe.hget(self.key("crawl", crawl_id), "state")
        counts: dict[str, int] = {}
        for state in pipe.execute():
            if state:
                state = state.decode() if isinstance(state, bytes) else state
                counts[state] = counts.get(state, 0) + 1
        return counts
