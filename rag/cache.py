"""One bounded, thread-safe cache for the whole package: when it is full, the least recently
used entry goes first. Every cache that holds index data is owned by an object (an embedder, a
feature extractor, an opened index, the reader), so what it holds goes with its owner."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `size` entries; `get` and `put` are atomic."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, default: Any = None) -> Any:
        """The value of `key` (now the most recently used), else `default`."""
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class Memo:
    """A bounded memo of a pure function of its arguments (`LRU` underneath)."""

    def __init__(self, fn: Callable[..., Any], size: int) -> None:
        self.fn = fn
        self._cache: LRU[tuple[Any, ...], Any] = LRU(size)

    def __call__(self, *key: Any) -> Any:
        hit = self._cache.get(key, _MISSING)
        if hit is _MISSING:  # a None result is remembered too
            hit = self.fn(*key)
            self._cache.put(key, hit)
        return hit


_MISSING = object()
