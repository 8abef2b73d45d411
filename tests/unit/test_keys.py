"""API keys without a server: the key's shape, the embedded store and its file, the checks."""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path

import pytest

from crawler.service.errors import BadRecord
from crawler.service.keys import (
    KEYS_FILE,
    MAX_KEYS_PER_SESSION,
    ApiKey,
    ApiKeys,
    FileKeyStore,
    KeyRefused,
    digest_of,
    key_from,
    key_id_of,
)

OWNER = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


def keys_in(tmp_path: Path, **options: float) -> ApiKeys:
    return ApiKeys(FileKeyStore(tmp_path / KEYS_FILE), **options)


def test_a_new_key_has_its_prefix_its_id_and_32_random_bytes(tmp_path: Path):
    store = keys_in(tmp_path)
    record, key = store.create(OWNER, "ci")
    assert key.startswith(f"cdk_{record.key_id}_")
    assert key_id_of(key) == record.key_id
    secret = key.split("_", 2)[2]
    assert len(secret) == 43  # base64url of 32 bytes
    assert record.digest == digest_of(key) and key not in record.fields().values()
    other_record, other_key = store.create(OWNER, "ci")
    assert other_key != key and other_record.key_id != record.key_id


@pytest.mark.parametrize("candidate", [
    None, 7, b"cdk_", "", "cdk_", "cdk_0123456789abcdef", "cdk_0123456789abcdef_" + "A" * 42,
    "cdk_0123456789abcdef_" + "A" * 44, "cdk_0123456789ABCDEF_" + "A" * 43, "cdk_0123456789abcdef_" + "A" * 42 + "=",
    "CDK_0123456789abcdef_" + "A" * 43, " cdk_0123456789abcdef_" + "A" * 43, "cdk_0123456789abcdef_" + "A" * 42 + "\n",
    "cdk_" + "a" * 10_000,
])
def test_anything_not_shaped_like_a_key_names_no_key(candidate: object):
    assert key_id_of(candidate) is None


def test_verify_takes_the_key_and_nothing_near_it(tmp_path: Path):
    store = keys_in(tmp_path)
    record, key = store.create(OWNER, "ci")
    verified = store.verify(key)
    assert verified is not None and verified.key_id == record.key_id and verified.owner == OWNER
    secret = key.split("_", 2)[2]
    near = [key[:-1] + ("B" if key[-1] == "A" else "A"), "A" + key[1:],
            f"cdk_{secrets.token_hex(8)}_{secret}", key.replace(record.key_id, record.key_id[::-1])]
    for candidate in near:
        assert store.verify(candidate) is None, candidate


def test_revoking_is_per_owner_and_final(tmp_path: Path):
    store = keys_in(tmp_path)
    record, key = store.create(OWNER, "ci")
    assert store.revoke(OTHER, record.key_id) is False, "another session cannot revoke it"
    assert store.verify(key) is not None
    for bad in ("", "../" + record.key_id, record.key_id.upper(), record.key_id + "0"):
        assert store.revoke(OWNER, bad) is False
    assert store.revoke(OWNER, record.key_id) is True
    assert store.verify(key) is None
    assert store.still_valid(record.key_id, OWNER) is None
    assert store.revoke(OWNER, record.key_id) is False
    assert keys_in(tmp_path).verify(key) is None, "still revoked after a restart"


def test_the_file_holds_digests_only_is_private_and_survives_a_restart(tmp_path: Path):
    store = keys_in(tmp_path)
    kept, key = store.create(OWNER, "kept")
    gone, gone_key = store.create(OWNER, "gone")
    store.revoke(OWNER, gone.key_id)
    path = tmp_path / KEYS_FILE
    raw = path.read_text()
    assert key not in raw and key.split("_", 2)[2] not in raw and digest_of(key) in raw
    assert path.stat().st_mode & 0o777 == 0o600
    again = keys_in(tmp_path)
    assert [k.key_id for k in again.list(OWNER)] == [kept.key_id]
    assert again.verify(key) is not None and again.verify(gone_key) is None
    assert again.list(OTHER) == []


def test_names_are_checked_and_a_session_has_a_bounded_number_of_keys(tmp_path: Path):
    store = keys_in(tmp_path)
    for name in (None, "", "   ", "x" * 101, 12, ["a"], "tab\there", "bell\x07", "c1\x85c1", "zero\u200bwidth\u202e"):
        with pytest.raises(KeyRefused):
            store.create(OWNER, name)
    with pytest.raises(KeyRefused):
        store.create("not-a-session", "ci")
    assert store.create(OWNER, "  trimmed  ")[0].name == "trimmed"
    assert store.create(OWNER, "ünïcode ✓")[0].name == "ünïcode ✓"
    for n in range(MAX_KEYS_PER_SESSION - 2):
        store.create(OWNER, f"k{n}")
    with pytest.raises(KeyRefused, match="revoke one"):
        store.create(OWNER, "one too many")
    assert store.create(OTHER, "another session's first")[1]


def test_last_use_is_recorded_and_written_at_most_once_per_period(tmp_path: Path):
    throttled = keys_in(tmp_path)
    record, key = throttled.create(OWNER, "ci")
    assert throttled.store.get(record.key_id).last_used_at is None
    throttled.verify(key)
    first = throttled.store.get(record.key_id).last_used_at
    assert first is not None
    time.sleep(0.01)
    throttled.verify(key)
    assert throttled.store.get(record.key_id).last_used_at == first, "within the period: no second write"

    eager = ApiKeys(throttled.store, touch_every=0)
    time.sleep(0.01)
    eager.verify(key)
    assert eager.store.get(record.key_id).last_used_at > first
    assert json.loads((tmp_path / KEYS_FILE).read_text())["keys"][0]["last_used_at"] == \
        eager.store.get(record.key_id).last_used_at


def test_a_revoked_key_is_not_brought_back_by_a_late_use(tmp_path: Path):
    store = keys_in(tmp_path, touch_every=0)
    record, key = store.create(OWNER, "ci")
    stale = store.store.get(record.key_id)
    assert store.revoke(OWNER, record.key_id)
    store.store.touch(stale.key_id, "2026-01-01T00:00:00.000Z")
    assert store.store.get(record.key_id) is None and store.verify(key) is None


def test_a_damaged_keys_file_is_set_aside_and_no_key_is_valid(tmp_path: Path):
    store = keys_in(tmp_path)
    _, key = store.create(OWNER, "ci")
    (tmp_path / KEYS_FILE).write_text('{"version": 1, "keys": [{"id": ')
    again = keys_in(tmp_path)
    assert again.verify(key) is None
    assert [p.name.startswith(KEYS_FILE + ".damaged-") for p in tmp_path.iterdir()].count(True) == 1
    assert again.create(OWNER, "fresh")[1], "the server carries on with a fresh file"


@pytest.mark.parametrize("fields", [
    {},
    {"id": "../../etc/passwd", "owner": OWNER, "name": "x", "created_at": "t", "digest": "0" * 64},
    {"id": "0123456789abcdef", "owner": "../x", "name": "x", "created_at": "t", "digest": "0" * 64},
    {"id": "0123456789abcdef", "owner": OWNER, "name": "x", "created_at": "t", "digest": "cdk_0123456789abcdef_x"},
    {"id": "0123456789abcdef", "owner": OWNER, "name": 5, "created_at": "t", "digest": "0" * 64},
    {"id": "0123456789abcdef", "owner": OWNER, "name": "x", "created_at": None, "digest": "0" * 64},
    {"id": "0123456789abcdef", "owner": OWNER, "name": "x", "created_at": "t", "digest": "0" * 64,
     "last_used_at": ["x"]},
    {"id": ["0123456789abcdef"], "owner": OWNER, "name": "x", "created_at": "t", "digest": "0" * 64},
])
def test_a_record_not_shaped_as_written_is_refused(fields: dict):
    with pytest.raises(BadRecord):
        key_from(fields)


def test_crafted_entries_in_the_file_are_skipped_and_the_good_ones_kept(tmp_path: Path):
    good_key = "cdk_0123456789abcdef_" + "A" * 43
    good = ApiKey("0123456789abcdef", OWNER, "good", "2026-01-01T00:00:00.000Z", digest_of(good_key))
    (tmp_path / KEYS_FILE).write_text(json.dumps({"version": 1, "keys": [
        "a string", None, {"id": "x"}, good.fields(),
        {**good.fields(), "id": "aaaaaaaaaaaaaaaa", "owner": "nobody"}]}))
    store = keys_in(tmp_path)
    assert [k.key_id for k in store.list(OWNER)] == [good.key_id]
    assert store.verify(good_key) is not None
    assert store.verify("cdk_aaaaaaaaaaaaaaaa_" + "A" * 43) is None
    name_of_length = key_from({**good.fields(), "name": "n" * 5000}).name
    assert len(name_of_length) == 100


def test_many_threads_make_and_revoke_keys_without_losing_one(tmp_path: Path):
    store = keys_in(tmp_path)
    made: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(owner: str) -> None:
        for n in range(10):
            record, key = store.create(owner, f"k{n}")
            with lock:
                made.append((record.key_id, key))

    owners = [secrets.token_hex(16) for _ in range(4)]
    threads = [threading.Thread(target=work, args=(owner,)) for owner in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    again = keys_in(tmp_path)
    assert sum(len(again.list(owner)) for owner in owners) == 40
    assert all(again.verify(key) is not None for _, key in made)
