"""The one cache: least recently used entries go first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    """At most ``size`` values, the least recently used dropped first.

    >>> c = LRU(2)
    >>> [c.get_or(k, lambda k=k: k * 10) for k in (1, 2, 1, 3)]
    [10, 20, 10, 30]
    >>> sorted(c.keys()), c.hits, c.misses
    ([1, 3], 1, 3)
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self.hits = self.misses = 0

    def get_or(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value at ``key``, made by ``make()`` (and kept) when missing."""
        if key in self._data:
            self.hits += 1
            self._data.move_to_end(key)
            return self._data[key]
        self.misses += 1
        value = self._data[key] = make()
        while len(self._data) > self.size:
            self._data.popitem(last=False)
        return value

    def keys(self) -> list[Hashable]:
        return list(self._data)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
