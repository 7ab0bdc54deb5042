"""A set of 64-bit integers in one flat array: 8 to 16 bytes an entry instead of ~64.

For the keys a run keeps of every record it reads (hashes of ids): a million of them take
16 MB here, against ~64 MB as a Python ``set`` of ints. Open addressing with linear probing,
kept at most half full; 0 marks an empty slot, so the key 0 is kept aside.
"""

from __future__ import annotations

from array import array

_MIN_SLOTS = 1 << 10


class IntSet:
    __slots__ = ("_len", "_mask", "_slots", "_zero")

    def __init__(self) -> None:
        self._slots = array("q", bytes(8 * _MIN_SLOTS))
        self._mask = _MIN_SLOTS - 1
        self._len = 0
        self._zero = False

    def add(self, key: int) -> bool:
        """Add ``key`` (a signed 64-bit int); True if it was not there yet."""
        if key == 0:
            new, self._zero = not self._zero, True
            self._len += new
            return new
        # the probe of ``_find``, inlined: half the cost of an add (one per invoice read)
        slots, mask = self._slots, self._mask
        at = key & mask
        while found := slots[at]:
            if found == key:
                return False
            at = (at + 1) & mask
        slots[at] = key
        self._len += 1
        if 2 * self._len > mask:
            self._grow()
        return True

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int):
            return False
        if key == 0:
            return self._zero
        return self._slots[self._find(key)] == key

    def _find(self, key: int) -> int:
        """The slot holding ``key``, or the empty slot where it would go."""
        slots, mask = self._slots, self._mask
        at = key & mask
        while (found := slots[at]) and found != key:
            at = (at + 1) & mask
        return at

    def __len__(self) -> int:
        return self._len

    def _grow(self) -> None:
        old = self._slots
        size = 2 * len(old)
        self._slots, self._mask = array("q", bytes(8 * size)), size - 1
        for key in old:
            if key:
                self._slots[self._find(key)] = key
