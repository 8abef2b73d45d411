"""A crawl's memory of every URL it met, at a few bytes a URL.

A crawl remembers each URL it judged (the frontier's seen-set), each page it stored, how often
each URL was linked (the site-size estimate) and each page path it gave out. As Python `set`s
and `dict`s of strings those cost ~200 bytes a URL, and the strings, made one by one while pages
come and go, stay scattered over the allocator's arenas and keep them from being given back: the
server grew by ~1 KB of memory a page. `Fingerprints` keeps a 64-bit hash of each string in one
flat table instead: 18–36 bytes a member, in a single block that is replaced, not fragmented, as
it grows.

The hash is Python's own string hash (SipHash, computed once per string object and cached): two
different URLs share a fingerprint with a chance of about n²/2⁶⁵ (3 in 10¹⁰ at 100,000 URLs), and
the hash of a string differs between processes, so fingerprints never leave the process that made
them (a resumed crawl rebuilds them from its folder).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

_MASK = (1 << 64) - 1
_MAX_COUNT = 255


class Fingerprints:
    """A set of strings, each with how many times it was added (up to 255), kept as fingerprints.

    Open addressing with linear probing in an `array` of unsigned 64-bit slots (0: empty), at most
    half full; the counts are a parallel array of bytes. Not thread-safe: its owner holds a lock.
    """

    __slots__ = ("_slots", "_counts", "_mask", "_size")

    def __init__(self, members: Iterable[str] = ()) -> None:
        self._slots = array("Q", bytes(8 * 64))
        self._counts = bytearray(64)
        self._mask = 63
        self._size = 0
        for member in members:
            self.add(member)

    def __len__(self) -> int:
        return self._size

    def __contains__(self, member: object) -> bool:
        return self.count(member) > 0

    def count(self, member: object) -> int:
        """How many times `member` was added (0: never)."""
        key = (hash(member) & _MASK) or 1
        index = self._place(key)
        return self._counts[index] if self._slots[index] == key else 0

    def add(self, member: str) -> int:
        """Add `member` once more; its count after that (1: it is new)."""
        key = (hash(member) & _MASK) or 1
        index = self._place(key)
        if self._slots[index] == key:
            times = self._counts[index]
            if times < _MAX_COUNT:
                times += 1
                self._counts[index] = times
            return times
        self._slots[index] = key
        self._counts[index] = 1
        self._size += 1
        if self._size * 2 > self._mask:
            self._grow()
        return 1

    def _place(self, key: int) -> int:
        """The slot holding `key`, or the empty one where it would go."""
        slots, mask = self._slots, self._mask
        index = key & mask
        while (slot := slots[index]) != key and slot != 0:
            index = (index + 1) & mask
        return index

    def update(self, members: Iterable[str]) -> None:
        for member in members:
            self.add(member)

    def _grow(self) -> None:
        old_slots, old_counts = self._slots, self._counts
        capacity = (self._mask + 1) * 2
        slots, counts, mask = array("Q", bytes(8 * capacity)), bytearray(capacity), capacity - 1
        for old_index, key in enumerate(old_slots):
            if key:
                index = key & mask
                while slots[index]:
                    index = (index + 1) & mask
                slots[index] = key
                counts[index] = old_counts[old_index]
        self._slots, self._counts, self._mask = slots, counts, mask
