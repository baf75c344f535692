"""The engine's one compile cache (engine/compiled.py, docs/engine.md#the-compile-cache)."""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import numpy as np

from engine import compiled, shallow
from engine.activations import get
from engine.compiled import ProgramCache


def test_least_recently_used_entry_goes_first():
    cache, built = ProgramCache(2), []

    def build(key):
        return lambda: built.append(key) or key.upper()

    assert cache.get("a", build("a")) == "A" and cache.get("b", build("b")) == "B"
    assert cache.get("a", build("a")) == "A"  # a hit: a is now the most recent
    cache.get("c", build("c"))  # over capacity: b, the least recent, is dropped
    assert len(cache) == 2 and "a" in cache and "c" in cache and "b" not in cache
    cache.get("b", build("b"))
    assert built == ["a", "b", "c", "b"]


def test_a_failed_build_stores_nothing():
    cache = ProgramCache(2)

    def fail():
        raise RuntimeError("no")

    try:
        cache.get("k", fail)
    except RuntimeError:
        pass
    assert "k" not in cache and cache.get("k", lambda: 1) == 1


def test_threads_asking_for_one_key_share_one_build():
    cache, builds = ProgramCache(4), []
    started, release = threading.Event(), threading.Event()
    asking = threading.Semaphore(0)

    def build():
        builds.append(1)
        started.set()
        release.wait()
        return object()

    results = []

    def ask():
        asking.release()
        results.append(cache.get("k", build))

    first = threading.Thread(target=ask)
    first.start()
    started.wait()  # the first build is under way; every other thread now asks during it
    others = [threading.Thread(target=ask) for _ in range(7)]
    for t in others:
        t.start()
    for _ in range(8):
        asking.acquire()
    release.set()
    for t in [first, *others]:
        t.join()
    assert len(builds) == 1 and len(results) == 8 and all(r is results[0] for r in results)


def test_programs_are_keyed_by_static_values_and_argument_shapes():
    def scaled(x, k):
        return x * k

    f = jax.jit(scaled, static_argnames="k")
    a = compiled.program(("test.scaled",), f, jnp.ones(3), k=2)
    assert compiled.program(("test.scaled",), f, jax.ShapeDtypeStruct((3,), jnp.float64), k=2) is a
    assert compiled.program(("test.scaled",), f, jnp.ones(4), k=2) is not a
    assert compiled.program(("test.scaled",), f, jnp.ones(3), k=3) is not a
    assert compiled.program(("test.scaled",), f, jnp.ones(3, jnp.float32), k=2) is not a
    np.testing.assert_array_equal(a(jnp.arange(3.0)), [0.0, 2.0, 4.0])


def test_the_engine_modules_share_the_one_cache():
    shallow.spectrum(get("relu"), 7, 5, 1.0)
    assert any(k[:2] == ("shallow.spectrum", get("relu")) for k in compiled.CACHE._entries)
    assert len(compiled.CACHE) <= compiled.CACHE.capacity
