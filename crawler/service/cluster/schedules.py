"""The cluster's schedule store: one Redis hash shared by every web server.

Keys (under the cluster's prefix): ``schedules`` a hash, schedule id → the record as JSON;
``schedule-run:<id>:<due>`` the claim of one run, taken with ``SET NX`` by the one web server that
fires it (kept a day, far longer than any server can hold a stale copy of the record).
"""

from __future__ import annotations

import json

import redis

from crawler.service.cluster.redis_states import RedisCrawlStates, guarded, reply
from crawler.service.schedules import Schedule, SkipLog

CLAIM_SECONDS = 24 * 3600

# KEYS: the hash. ARGV: id, record. Written only if the schedule still exists (not deleted meanwhile).
_UPDATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


class RedisScheduleStore:
    def __init__(self, states: RedisCrawlStates) -> None:
        self._redis: redis.Redis = states.redis
        self._key = states.key("schedules")
        self._claim_prefix = states.key("schedule-run:")
        self._update = self._redis.register_script(_UPDATE)
        self._skip = SkipLog()

    def _parse(self, schedule_id: str, text: str) -> Schedule | None:
        return self._skip.parse(schedule_id, text)  # the JSON text as stored: parsed and checked once

    @guarded
    def all(self) -> list[Schedule]:
        items = reply(self._redis.hgetall(self._key))
        return [s for key, text in items.items() if (s := self._parse(key, text)) is not None]

    @guarded
    def get(self, schedule_id: str) -> Schedule | None:
        text = reply(self._redis.hget(self._key, schedule_id))
        return None if text is None else self._parse(schedule_id, text)

    @guarded
    def add(self, schedule: Schedule) -> None:
        self._redis.hset(self._key, schedule.schedule_id, json.dumps(schedule.to_dict()))

    @guarded
    def update(self, schedule: Schedule) -> bool:
        return bool(self._update(keys=[self._key], args=[schedule.schedule_id, json.dumps(schedule.to_dict())]))

    @guarded
    def remove(self, schedule_id: str) -> bool:
        return bool(reply(self._redis.hdel(self._key, schedule_id)))

    @guarded
    def claim(self, schedule_id: str, due: float) -> bool:
        key = f"{self._claim_prefix}{schedule_id}:{round(due * 1000)}"
        return bool(self._redis.set(key, "1", nx=True, ex=CLAIM_SECONDS))
