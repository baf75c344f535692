"""The engine's one cache of compiled programs (docs/engine.md#the-compile-cache).

A least-recently-used map from a key tuple to whatever is expensive to build once per key:
programs compiled ahead of time for fixed argument shapes, jitted functions that hold their own
per-shape compilations, and the quadrature grids they close over. Bounded in entries, so a long
session (the dashboard sweeping sizes) does not grow without limit; an evicted program is simply
compiled again when next asked for. Thread-safe: the dashboard computes from worker threads, and
two threads asking for one key wait for a single build.

Keys start with the program's name ("ntk.layerwise", "shallow.spectrum", …) followed by the static
values it was built for; `program` appends the argument shapes and dtypes itself.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

from engine import backend

backend.configure()

import jax  # noqa: E402  (after float64 is on)

CAPACITY = 64


class ProgramCache:
    """A bounded, thread-safe LRU of built objects; `get(key, build)` builds on a miss only."""

    def __init__(self, capacity: int = CAPACITY):
        if capacity < 1:
            raise ValueError(f"a cache needs room for at least one entry, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        with self._lock:
            key_lock = self._building.setdefault(key, threading.Lock())
        with key_lock:  # one build per key at a time; other keys build in parallel
            try:
                with self._lock:
                    if key in self._entries:
                        self._entries.move_to_end(key)
                        return self._entries[key]
                value = build()
                with self._lock:
                    self._entries[key] = value
                    while len(self._entries) > self.capacity:
                        self._entries.popitem(last=False)
                return value
            finally:
                with self._lock:
                    if self._building.get(key) is key_lock:
                        del self._building[key]


CACHE = ProgramCache()


def cached(key: tuple, build: Callable[[], Any]) -> Any:
    """The engine cache's entry for `key`, built by `build()` on a miss."""
    return CACHE.get(key, build)


def _leaf(a):
    """An argument as a compiled program sees it: an array (or ShapeDtypeStruct) by shape and
    dtype, a Python number by its type (it is traced), anything else (a static value) as itself."""
    if hasattr(a, "shape") and hasattr(a, "dtype"):
        return tuple(a.shape), str(a.dtype)
    if isinstance(a, (bool, int, float, complex)):
        return type(a).__name__
    return a


def signature(args) -> tuple:
    """What a compiled program depends on in its arguments: their tree and each leaf's `_leaf`."""
    leaves, tree = jax.tree.flatten(args)
    return tree, tuple(_leaf(a) for a in leaves)


def program(key: tuple, jitted, *args, **static):
    """`jitted` (a jax.jit function) lowered for these arguments and compiled ahead of time, once
    per key, static keyword values and argument signature. Call the result with the non-static
    arguments only."""
    full = (*key, tuple(sorted(static.items())), signature(args))
    return cached(full, lambda: jitted.lower(*args, **static).compile())
