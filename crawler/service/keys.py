"""API keys: named, revocable secrets that act as the session that made them.

A key is `cdk_<id>_<secret>`: the prefix makes a leaked key easy to recognise (and to scan for),
the id (16 hex digits, public: it is what `GET /api/keys` lists and `DELETE /api/keys/<id>`
names) finds the stored record in one lookup, and the secret is 32 random bytes. Only the
SHA-256 of the whole key is stored; a presented key is hashed and compared with
`hmac.compare_digest`. A key that fails any check is simply not valid: there is no answer that
tells a wrong secret from an unknown id.

The records live beside the crawl records, behind one interface (:class:`KeyStore`): in memory
with a file in the data directory in the embedded mode (:class:`FileKeyStore`), in Redis in
cluster mode (``cluster/redis_keys.py``). Every check reads the store, so a revoked key stops
working at once on every web server. :class:`ApiKeys` is what the web layer calls.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from crawler.engine.config import ConfigError
from crawler.engine.events import iso_timestamp
from crawler.folder.writer import write_json
from crawler.service.errors import BadRecord

log = logging.getLogger(__name__)

KEY_PREFIX = "cdk_"
SECRET_BYTES = 32
KEY_PATTERN = re.compile(r"cdk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")  # token_urlsafe(32): 43 characters
KEY_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")
OWNER_PATTERN = re.compile(r"[0-9a-f]{32}")  # a session id (crawler/web/sessions.py)
MAX_NAME_CHARS = 100
MAX_KEYS_PER_SESSION = 50
TOUCH_EVERY = 60.0  # seconds between two writes of one key's `last_used_at`
KEYS_FILE = ".api-keys.json"


class KeyRefused(ConfigError):
    """A key cannot be made: a bad name, or the session has as many keys as it may."""


class TooManyKeys(KeyRefused):
    """The session already has as many keys as it may."""


@dataclass(frozen=True)
class ApiKey:
    """One key's record: never the key itself, only its digest."""

    key_id: str
    owner: str  # the session the key acts as
    name: str
    created_at: str
    digest: str  # SHA-256 (hex) of the whole key
    last_used_at: str | None = None

    def row(self) -> dict[str, Any]:
        """What `GET /api/keys` shows of it (no digest, no secret)."""
        return {"id": self.key_id, "name": self.name, "created_at": self.created_at,
                "last_used_at": self.last_used_at}

    def fields(self) -> dict[str, str]:
        fields = {"id": self.key_id, "owner": self.owner, "name": self.name, "created_at": self.created_at,
                  "digest": self.digest}
        if self.last_used_at:
            fields["last_used_at"] = self.last_used_at
        return fields


def key_from(fields: Mapping[str, Any], key_id: str | None = None) -> ApiKey:
    """A stored key record, checked like untrusted input (a shared store may hold anything):
    BadRecord unless every field has its exact shape (and the id is the one it is stored under)."""
    stored_id, owner, digest = fields.get("id"), fields.get("owner"), fields.get("digest")
    name, created_at, used = fields.get("name"), fields.get("created_at"), fields.get("last_used_at")
    if not isinstance(stored_id, str) or not KEY_ID_PATTERN.fullmatch(stored_id):
        raise BadRecord(f"its id {str(stored_id)[:40]!r} is not a key id")
    if key_id is not None and stored_id != key_id:
        raise BadRecord(f"it is stored under {key_id} but names key {stored_id}")
    if not isinstance(owner, str) or not OWNER_PATTERN.fullmatch(owner):
        raise BadRecord("its owner is not a session id")
    if not isinstance(digest, str) or not DIGEST_PATTERN.fullmatch(digest):
        raise BadRecord("its digest is not a SHA-256")
    if not isinstance(name, str) or not isinstance(created_at, str) or not (used is None or isinstance(used, str)):
        raise BadRecord("its name or times are not text")
    return ApiKey(stored_id, owner, name[:MAX_NAME_CHARS], created_at[:40], digest, (used or None) and used[:40])


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id_of(candidate: Any) -> str | None:
    """The id inside something presented as a key, or None when it is not shaped like one."""
    if not isinstance(candidate, str) or len(candidate) > 100:
        return None
    match = KEY_PATTERN.fullmatch(candidate)
    return match.group(1) if match else None


def looks_like_key(candidate: Any) -> bool:
    """Presented as one of our keys (by its prefix), whether or not it is well formed or valid."""
    return isinstance(candidate, str) and candidate.startswith(KEY_PREFIX)


def clean_name(raw: Any) -> str:
    """A key's name: text, 1-100 characters once trimmed, no control or formatting characters."""
    if not isinstance(raw, str) or not raw.strip():
        raise KeyRefused('a key needs a name: {"name": "my script"} (1 to 100 characters)')
    name = raw.strip()
    if len(name) > MAX_NAME_CHARS:
        raise KeyRefused(f"a key's name is at most {MAX_NAME_CHARS} characters (got {len(name)})")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):  # controls, and bidi overrides that mislead
        raise KeyRefused("a key's name may not contain control or formatting characters")
    return name


class KeyStore(Protocol):
    """The one interface to key records (every method safe from any thread)."""

    def add(self, key: ApiKey) -> None: ...

    def get(self, key_id: str) -> ApiKey | None:
        """The key's record; None if there is none or it is not one to trust."""

    def list(self, owner: str) -> list[ApiKey]:
        """The owner's keys, oldest first."""

    def remove(self, owner: str, key_id: str) -> bool:
        """Delete the owner's key; False if the owner has no such key."""

    def touch(self, key_id: str, when: str) -> None:
        """Record a use (a key removed meanwhile stays removed)."""


class FileKeyStore:
    """The embedded mode's store: a dict behind a lock, written whole to a 0600 file in the data
    directory at each change (atomically: the file is the old one or the new one, never half)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._keys: dict[str, ApiKey] = {}
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            # Unreadable: set aside (never overwritten, an operator may repair it), start with no keys.
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            log.error("API keys: %s cannot be read (%s); moved to %s, no key is valid until it is repaired",
                      self.path, exc.__class__.__name__, aside.name)
            try:
                self.path.replace(aside)
            except OSError:
                pass
            return
        entries = data.get("keys") if isinstance(data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            try:
                key = key_from(entry if isinstance(entry, dict) else {})
            except BadRecord as exc:
                log.error("API keys: refusing a record in %s: %s", self.path.name, exc)
                continue
            self._keys[key.key_id] = key

    def _save(self) -> None:
        write_json(self.path, {"version": 1, "keys": [key.fields() for key in self._keys.values()]})

    def add(self, key: ApiKey) -> None:
        with self._lock:
            self._keys[key.key_id] = key
            try:
                self._save()
            except OSError:
                del self._keys[key.key_id]  # a key that would not survive a restart is not handed out
                raise

    def get(self, key_id: str) -> ApiKey | None:
        with self._lock:
            return self._keys.get(key_id)

    def list(self, owner: str) -> list[ApiKey]:
        with self._lock:
            keys = [key for key in self._keys.values() if key.owner == owner]
        return sorted(keys, key=lambda key: (key.created_at, key.key_id))

    def remove(self, owner: str, key_id: str) -> bool:
        with self._lock:
            key = self._keys.get(key_id)
            if key is None or key.owner != owner:
                return False
            del self._keys[key_id]  # gone from memory first: refused from now on, whatever the disk does
            self._save()
            return True

    def touch(self, key_id: str, when: str) -> None:
        with self._lock:
            key = self._keys.get(key_id)
            if key is None:
                return
            self._keys[key_id] = replace(key, last_used_at=when)
            try:
                self._save()
            except OSError as exc:
                log.warning("API keys: could not record a use of key %s: %s", key_id, exc)


# Compared with the digest of a presented key whose id is unknown, so that an unknown id costs the
# same work as a wrong secret.
_NO_DIGEST = "0" * 64


class ApiKeys:
    """Making, listing, revoking and checking keys, over a :class:`KeyStore`."""

    def __init__(self, store: KeyStore, *, touch_every: float = TOUCH_EVERY) -> None:
        self.store = store
        self._touch_every = touch_every
        self._touched: dict[str, float] = {}
        self._touch_lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> ApiKeys:
        return cls(FileKeyStore(Path(data_dir) / KEYS_FILE))

    def create(self, owner: str, name: Any) -> tuple[ApiKey, str]:
        """A new key for the session: its record and the key itself (shown once, never stored)."""
        clean = clean_name(name)
        if not OWNER_PATTERN.fullmatch(owner):
            raise KeyRefused("keys are made by a session")
        if len(self.store.list(owner)) >= MAX_KEYS_PER_SESSION:
            raise TooManyKeys(f"this session already has {MAX_KEYS_PER_SESSION} keys, the most it may have: "
                             "revoke one it no longer needs")
        key_id = secrets.token_hex(8)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
        record = ApiKey(key_id, owner, clean, iso_timestamp(), digest_of(secret))
        self.store.add(record)
        return record, secret

    def list(self, owner: str) -> list[ApiKey]:
        return self.store.list(owner)

    def revoke(self, owner: str, key_id: str) -> bool:
        if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
            return False
        with self._touch_lock:
            self._touched.pop(key_id, None)
        return self.store.remove(owner, key_id)

    def verify(self, candidate: Any) -> ApiKey | None:
        """The key's record when `candidate` is a key that exists now, else None; its use recorded."""
        key_id = key_id_of(candidate)
        if key_id is None:
            return None
        record = self.store.get(key_id)
        presented = digest_of(candidate)
        if not hmac.compare_digest(presented, record.digest if record is not None else _NO_DIGEST):
            return None
        if record is None:  # pragma: no cover - the digest of a key never matches _NO_DIGEST
            return None
        self._used(record)
        return record

    def still_valid(self, key_id: str, owner: str) -> ApiKey | None:
        """A key verified earlier (a socket's, a signed-in browser's): still there and still the
        same owner's; its use recorded."""
        record = self.store.get(key_id) if KEY_ID_PATTERN.fullmatch(key_id) else None
        if record is None or record.owner != owner:
            return None
        self._used(record)
        return record

    def _used(self, record: ApiKey) -> None:
        """`last_used_at`, written at most once a `touch_every` per key by this process."""
        now = time.monotonic()
        with self._touch_lock:
            last = self._touched.get(record.key_id)
            if last is not None and now - last < self._touch_every:
                return
            self._touched[record.key_id] = now
        try:
            self.store.touch(record.key_id, iso_timestamp())
        except Exception as exc:  # noqa: BLE001 - a use that could not be recorded still authenticates
            log.warning("API keys: could not record a use of key %s: %s", record.key_id, exc)
