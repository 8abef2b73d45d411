"""The API key store in Redis (cluster mode): the same interface as the embedded one.

Keys (under the crawl records' prefix): ``apikey:<id>`` a hash with the record's fields (the
SHA-256 of the key, never the key), ``apikeys:<session>`` the set of a session's key ids. Every
check reads the hash, so a key revoked through any web server is refused by all of them from
the next request on. A record that is not exactly what this code writes (Redis is shared) is
logged and treated as no key at all.
"""

from __future__ import annotations

import builtins
import logging

import redis

from crawler.service.cluster.redis_states import PREFIX, guarded, reply
from crawler.service.errors import BadRecord
from crawler.service.keys import KEY_ID_PATTERN, OWNER_PATTERN, ApiKey, key_from

log = logging.getLogger(__name__)

# KEYS: the key's hash, the owner's set. ARGV: owner, id. Deletes only the owner's own key.
_REMOVE = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""

# KEYS: the key's hash. ARGV: when. A key revoked meanwhile is not brought back as a stub.
_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_used_at', ARGV[1])
return 1
"""


class RedisKeyStore:
    """KeyStore over the cluster's Redis."""

    def __init__(self, client: redis.Redis, prefix: str = PREFIX) -> None:
        self.redis = client
        self.prefix = prefix
        self._remove = client.register_script(_REMOVE)
        self._touch = client.register_script(_TOUCH)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @guarded
    def add(self, key: ApiKey) -> None:
        pipe = self.redis.pipeline()
        pipe.delete(self.key("apikey", key.key_id))
        pipe.hset(self.key("apikey", key.key_id), mapping=key.fields())
        pipe.sadd(self.key("apikeys", key.owner), key.key_id)
        pipe.execute()

    @guarded
    def get(self, key_id: str) -> ApiKey | None:
        if not KEY_ID_PATTERN.fullmatch(key_id):
            return None
        try:
            fields = reply(self.redis.hgetall(self.key("apikey", key_id)))
        except redis.ResponseError as exc:  # not a hash: something else wrote it
            log.error("refusing the API key record %s in Redis: %s", key_id, exc)
            return None
        if not fields:
            return None
        try:
            return key_from(fields, key_id)
        except BadRecord as exc:
            log.error("refusing the API key record %s in Redis: %s", key_id, exc)
            return None

    @guarded
    def list(self, owner: str) -> builtins.list[ApiKey]:
        if not OWNER_PATTERN.fullmatch(owner):
            return []
        ids = sorted(key_id for key_id in reply(self.redis.smembers(self.key("apikeys", owner)))
                     if KEY_ID_PATTERN.fullmatch(key_id))
        pipe = self.redis.pipeline()
        for key_id in ids:
            pipe.hgetall(self.key("apikey", key_id))
        keys = []
        for key_id, fields in zip(ids, pipe.execute(raise_on_error=False), strict=True):
            if not isinstance(fields, dict) or fields.get("owner") != owner:
                continue  # gone, or not a hash (an error answer)
            try:
                keys.append(key_from(fields, key_id))
            except BadRecord as exc:
                log.error("refusing the API key record %s in Redis: %s", str(key_id)[:40], exc)
        return sorted(keys, key=lambda key: (key.created_at, key.key_id))

    @guarded
    def remove(self, owner: str, key_id: str) -> bool:
        if not KEY_ID_PATTERN.fullmatch(key_id):
            return False
        try:
            return bool(self._remove(keys=[self.key("apikey", key_id), self.key("apikeys", owner)],
                                     args=[owner, key_id]))
        except redis.ResponseError as exc:  # not a hash: no key of the owner's
            log.error("refusing the API key record %s in Redis: %s", key_id, exc)
            return False

    @guarded
    def touch(self, key_id: str, when: str) -> None:
        try:
            self._touch(keys=[self.key("apikey", key_id)], args=[when])
        except redis.ResponseError as exc:
            log.error("refusing the API key record %s in Redis: %s", key_id, exc)
