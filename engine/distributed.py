"""Several processes, one kernel: JAX's multi-controller runtime (SPEC §13, docs/distributed.md).

Every process runs the same program. `start` joins them (`jax.distributed.initialize`, CPU
collectives over gloo) before anything touches a device; from then on `jax.devices()` lists every
process's devices and one mesh spans them all. What is split, and how:

- width: the layer-wise kernel's chunks of a wide layer are spread over all devices of all
  processes and summed with psum (engine.ntk does this over `jax.devices()` already);
- rows: process p computes the rows `row_range(N)` of K(x, x) (any model, the generic engine's
  cross kernel) and `gather_rows` assembles K on process 0;
- products: a matrix-free K·V sums the parameter-space vectors Jᵀ V over every device's share of
  the samples (psum), then each device pushes its own samples (`sharded_product`).

A watchdog thread in every process beats through the coordinator's key-value store and watches
the others' beats. A process that fails publishes its one-line message; a process whose beat
stops for `timeout` seconds is gone. Either way every other process writes one line
`ntk: error: …` and exits with EXIT_PEER, without waiting on a collective that cannot finish.

Engine code asks `active()`, `process_index()`, `is_main()`; with no session they answer as one
process does, so nothing changes for a single process.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import dataclass

from engine.errors import EngineError

ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
ENV_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"
ENV_TIMEOUT = "NTK_DISTRIBUTED_TIMEOUT"
DEFAULT_TIMEOUT = 60.0  # seconds without a peer's heartbeat before every process stops
EXIT_PEER = 3  # the exit code of a process stopped by a failed or vanished peer
SPLITS = ("auto", "width", "rows")
_KEY = "ntk"


# --- what was asked for ---------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """How to join: the coordinator HOST:PORT, the number of processes and this one's index.
    Fields left None are found by JAX from a cluster's environment (SLURM, Open MPI)."""

    coordinator: str | None
    processes: int | None
    process_id: int | None
    timeout: float
    cluster: str | None = None  # the scheduler detected, when the fields come from it
    split: str = "auto"  # how a dense kernel is shared: auto, width or rows


def _int_env(environ, name: str) -> int | None:
    text = environ.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise EngineError(f"{name}={text!r} must be an integer") from None


def _detected_cluster(environ) -> str | None:
    """A scheduler that started several tasks of this command (JAX reads its variables)."""
    if _int_env(environ, "SLURM_NTASKS") and int(environ["SLURM_NTASKS"]) > 1 \
            and "SLURM_STEP_ID" in environ:
        return "SLURM"
    if _int_env(environ, "OMPI_COMM_WORLD_SIZE") and int(environ["OMPI_COMM_WORLD_SIZE"]) > 1:
        return "Open MPI"
    return None


def timeout_seconds(environ=os.environ) -> float:
    text = environ.get(ENV_TIMEOUT)
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 86400:
        raise EngineError(f"{ENV_TIMEOUT}={text!r} must be a number of seconds between 1 and "
                          "86400")
    return value


def request(coordinator: str | None = None, processes: int | None = None,
            process_id: int | None = None, split: str = "auto",
            environ=os.environ) -> Request | None:
    """The flags over the standard environment (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES,
    JAX_PROCESS_ID) over a detected cluster; None when nothing asks for several processes."""
    coordinator = coordinator or environ.get(ENV_COORDINATOR) or None
    processes = processes if processes is not None else _int_env(environ, ENV_PROCESSES)
    process_id = process_id if process_id is not None else _int_env(environ, ENV_PROCESS_ID)
    cluster = _detected_cluster(environ)
    given = [v is not None for v in (coordinator, processes, process_id)]
    if not any(given) and cluster is None:
        return None
    if processes == 1 and process_id in (None, 0):
        return None  # one process: nothing to join
    if cluster is None and not all(given):
        missing = [f for f, g in zip(("--coordinator", "--num-processes", "--process-id"), given)
                   if not g]
        raise EngineError(f"several processes need the coordinator, the number of processes and "
                          f"this process's index; missing {', '.join(missing)} (or "
                          f"{ENV_COORDINATOR}, {ENV_PROCESSES}, {ENV_PROCESS_ID})")
    if coordinator is not None:
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise EngineError(f"the coordinator must be HOST:PORT, got {coordinator!r}")
    if processes is not None and processes < 1:
        raise EngineError(f"the number of processes must be at least 1, got {processes}")
    if process_id is not None and processes is not None and not 0 <= process_id < processes:
        raise EngineError(f"the process index must be between 0 and {processes - 1}, got "
                          f"{process_id}")
    if split not in SPLITS:
        raise EngineError(f"the split must be one of {', '.join(SPLITS)}, got {split!r}")
    return Request(coordinator, processes, process_id, timeout_seconds(environ), cluster, split)


# --- the session: joining, the watchdog, leaving ----------------------------------------------

_session: "Session | None" = None


class Session:
    """This process's membership: its index, the number of processes and the watchdog."""

    def __init__(self, req: Request):
        self.request = req
        self.split = req.split  # "auto" until the kernel's memory check resolves it
        self.timeout = req.timeout
        self.index = 0
        self.count = 1
        self.client = None
        self._stop = threading.Event()
        self._last_ok = time.monotonic()
        self._seen: dict[int, tuple[str, float]] = {}
        self._verdict: str | None = None
        self._lock = threading.Lock()

    # joining
    def join(self) -> None:
        import jax

        _quiet_native_stdout()
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        t = int(math.ceil(self.timeout))
        try:
            # JAX's own heartbeat is set well beyond ours, so that ours speaks first, in one line.
            jax.distributed.initialize(
                self.request.coordinator, self.request.processes, self.request.process_id,
                initialization_timeout=max(t, 10), heartbeat_timeout_seconds=4 * t + 10,
                shutdown_timeout_seconds=max(t, 10))
        except Exception as exc:  # noqa: BLE001 — JAX raises several kinds; all mean "not joined"
            where = self.request.coordinator or self.request.cluster or "the cluster"
            raise EngineError(f"could not join the processes at {where} within {t} s: "
                              f"{_first_line(exc)}") from None
        from jax._src import distributed as jd

        self.client = jd.global_state.client
        self.index, self.count = jax.process_index(), jax.process_count()
        self._beat()
        threading.Thread(target=self._beat_loop, name="ntk-heartbeat", daemon=True).start()
        threading.Thread(target=self._watch_loop, name="ntk-watchdog", daemon=True).start()

    # the watchdog
    def _beat(self) -> None:
        """Publish this process's beat and read every key (one call), remembering when each
        peer's beat last changed."""
        now = time.monotonic()
        self.client.key_value_set(f"{_KEY}/beat/{self.index}", repr(now), allow_overwrite=True)
        entries = dict(self.client.key_value_dir_get(f"{_KEY}/"))
        with self._lock:
            self._last_ok = now
            for j in range(self.count):
                if j == self.index:
                    continue
                failed = entries.get(f"{_KEY}/failed/{j}")
                if failed is not None and self._verdict is None:
                    self._verdict = f"process {j} of {self.count} failed: {failed}"
                beat = entries.get(f"{_KEY}/beat/{j}")
                if f"{_KEY}/done/{j}" in entries:
                    beat = "done"
                if beat is not None and self._seen.get(j, (None,))[0] != beat:
                    self._seen[j] = (beat, now)
                elif j not in self._seen:
                    self._seen[j] = (None, now)  # not yet beating: counted from now

    def _beat_loop(self) -> None:
        period = max(0.2, self.timeout / 10)
        while not self._stop.wait(period):
            try:
                self._beat()
            except Exception:  # noqa: BLE001 — the coordinator unreachable: the watch decides
                pass

    def _watch_loop(self) -> None:
        period = max(0.1, self.timeout / 20)
        while not self._stop.wait(period):
            verdict = self.verdict()
            if verdict is not None and not self._stop.is_set():
                self._end(verdict)

    def verdict(self, now: float | None = None) -> str | None:
        """Why this process must stop, if it must: a peer failed, a peer's beat is older than
        the timeout, or the coordinator has not answered for as long."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._verdict is not None:
                return self._verdict
            if now - self._last_ok > self.timeout:
                where = self.request.coordinator or "the cluster's"
                return f"lost the coordinator (process 0 at {where}): no answer for {self.timeout:g} s"
            for j, (beat, since) in sorted(self._seen.items()):
                if beat != "done" and now - since > self.timeout:
                    return (f"process {j} of {self.count} stopped answering (no heartbeat for "
                            f"{self.timeout:g} s)")
        return None

    def _end(self, message: str) -> None:
        """Stop this process with one line, telling the coordinator it has left."""
        self._stop.set()
        try:
            self.client.key_value_set(f"{_KEY}/left/{self.index}", "1", allow_overwrite=True)
        except Exception:  # noqa: BLE001 — the coordinator may be the one that is gone
            pass
        _write_error(message)
        os._exit(EXIT_PEER)

    # leaving
    def fail(self, message: str, code: int) -> None:
        """This process failed with `message`: tell the others (so that each stops with one line
        naming it rather than waiting for a collective), then exit at once (no shutdown barrier:
        the others will not reach it)."""
        self._stop.set()
        try:
            self.client.key_value_set(f"{_KEY}/failed/{self.index}", message,
                                      allow_overwrite=True)
            if self.index == 0:  # the coordinator lives here: let the others read the message
                _wait_for(lambda: self._all_left(), self.timeout)
        except Exception:  # noqa: BLE001 — the coordinator may be gone already
            pass
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def _all_left(self) -> bool:
        live = self.client.key_value_dir_get(f"{_KEY}/left/")
        return len(live) >= self.count - 1

    def finish(self) -> None:
        """Success: say so, wait until process 0 has written its results (so that no process
        leaves a collective early and the launcher sees them end together), then leave."""
        import jax

        self.client.key_value_set(f"{_KEY}/done/{self.index}", "1", allow_overwrite=True)
        _wait_for(lambda: len(self.client.key_value_dir_get(f"{_KEY}/done/")) >= self.count,
                  None, self.verdict, self._end)
        self._stop.set()
        try:
            jax.distributed.shutdown()
        except Exception:  # noqa: BLE001 — every result is written; leaving quietly is enough
            pass


def explain(exc: BaseException) -> str | None:
    """A runtime error of a collective while several processes run (gloo or NCCL reporting a
    closed connection, a failed all-reduce): one line saying that a peer ended, or None."""
    if not active() or "RuntimeError" not in type(exc).__name__:
        return None
    text = _first_line(exc)
    if not any(w in text.lower() for w in ("gloo", "nccl", "peer", "connection", "collective",
                                           "barrier", "unavailable", "deadline")):
        return None
    why = _session.verdict() if _session is not None else None
    return (f"{why or f'a peer of the {process_count()} processes ended or vanished'} "
            f"(a collective failed: {text[:160]})")


def _wait_for(condition, timeout: float | None, verdict=None, end=None) -> None:
    """Poll `condition` until it holds; stop (returning) at `timeout`, or `end(reason)` when
    `verdict()` names one."""
    start = time.monotonic()
    while True:
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001 — a failed read counts as "not yet"
            pass
        if verdict is not None:
            why = verdict()
            if why is not None:
                end(why)
        if timeout is not None and time.monotonic() - start > timeout:
            return
        time.sleep(0.05)


def _first_line(exc) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


def _write_error(message: str) -> None:
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001
        pass
    os.write(2, f"ntk: error: {' '.join(message.split())}\n".encode())


_native_stdout_quieted = False


def _quiet_native_stdout() -> None:
    """Native libraries (gloo) print connection notes on file descriptor 1, where --json's one
    object goes. Python's stdout keeps the real stream; descriptor 1 goes to /dev/null."""
    global _native_stdout_quieted
    if _native_stdout_quieted:
        return
    sys.stdout.flush()
    real = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    sys.stdout = open(real, "w", buffering=1, encoding=sys.stdout.encoding or "utf-8",
                      errors="replace", closefd=True)
    _native_stdout_quieted = True


def start(req: Request | None) -> "Session | None":
    """Join the processes `req` describes (None: one process, nothing to do). Must run before
    anything touches a device."""
    global _session
    if req is None:
        return None
    if _session is not None:
        return _session
    session = Session(req)
    session.join()
    _session = session
    return session


def current() -> "Session | None":
    return _session


def active() -> bool:
    return _session is not None and _session.count > 1


def process_index() -> int:
    return _session.index if _session is not None else 0


def process_count() -> int:
    return _session.count if _session is not None else 1


def is_main() -> bool:
    return process_index() == 0


# --- partitions of the work -------------------------------------------------------------------

def row_range(samples: int, index: int | None = None, count: int | None = None) -> range:
    """The rows of an N × N kernel process `index` of `count` computes: contiguous, sizes
    differing by at most one."""
    index = process_index() if index is None else index
    count = process_count() if count is None else count
    base, extra = divmod(samples, count)
    start = index * base + min(index, extra)
    return range(start, start + base + (1 if index < extra else 0))


def local_devices(devices: int) -> int:
    """How many of the first `devices` global devices (the mesh a plan uses) are this process's:
    the memory one process holds is theirs, not the whole mesh's."""
    import jax

    if not active():
        return devices
    mine = jax.process_index()
    return max(1, sum(1 for d in jax.devices()[:devices] if d.process_index == mine))


def replicated(tree):
    """A pytree's arrays as host numpy arrays: a program over a mesh spanning several processes
    takes host values as the same replicated value on every process (local device arrays are
    committed to one device and refused)."""
    import jax
    import numpy as np

    return jax.tree.map(lambda a: np.asarray(a) if isinstance(a, jax.Array) else a, tree)


def gather_rows(rows, shares: list[range], block_bytes: int = 64 * 1024**2):
    """Process p holds the rows `shares[p]` of an array (shares contiguous, in order); process 0
    gets the whole array, the others None. Row blocks of bounded size are gathered one at a time
    (every process sends its block, padded to the largest share), so no process holds more than
    its rows and one block's worth of everyone's."""
    import numpy as np
    from jax.experimental import multihost_utils

    rows = np.asarray(rows)
    if process_count() == 1:
        return rows
    total = sum(len(s) for s in shares)
    widest = max(len(s) for s in shares)
    tail = rows.shape[1:]
    per_row = max(1, int(np.prod(tail)) * rows.dtype.itemsize * len(shares))
    step = max(1, min(widest, block_bytes // per_row))
    out = np.empty((total, *tail), rows.dtype) if is_main() else None
    for lo in range(0, widest, step):
        hi = min(lo + step, widest)
        mine = np.zeros((hi - lo, *tail), rows.dtype)
        part = rows[lo:hi]
        mine[: part.shape[0]] = part
        got = np.asarray(multihost_utils.process_allgather(mine))  # (processes, hi − lo, …)
        if out is not None:
            for p, share in enumerate(shares):
                n = max(0, min(hi, len(share)) - lo)
                out[share.start + lo: share.start + lo + n] = got[p, :n]
    return out


def kernel_rows(model, x, *, implementation: str = "auto", outputs: str = "trace",
                dtype="float64"):
    """The exact empirical NTK K(x, x) with its rows split over the processes: process p computes
    K(x[rows_p], x) by the generic engine (engine.models: contraction or products; the cross
    kernel has no layer-wise form) and process 0 gathers and symmetrises it. Returns the local
    NTKResult with `matrix` the whole kernel on process 0 and None elsewhere."""
    import dataclasses

    import numpy as np

    from engine.models import as_model, empirical_ntk

    x = np.asarray(x)
    N = x.shape[0]
    if N < process_count():
        raise EngineError(f"{N} samples cannot be split over {process_count()} processes by rows; "
                          "use --split width or fewer processes")
    mine = row_range(N)
    impl = "auto" if implementation == "layerwise" else implementation
    r = empirical_ntk(as_model(model), x[mine.start:mine.stop], x, implementation=impl,
                      outputs=outputs, dtype=dtype)
    k = r.out_dim if outputs == "full" and r.out_dim > 1 else 1
    shares = [range(s.start * k, s.stop * k) for s in (row_range(N, p) for p in
                                                         range(process_count()))]
    K = gather_rows(r.matrix, shares)
    if K is not None:  # exact up to round-off: the halves come from different processes
        K = K + K.T
        K *= 0.5
    return dataclasses.replace(r, matrix=K)


def split() -> str:
    """How a dense kernel is shared among the processes: width, rows, or none (one process)."""
    return _session.split if active() else "none"


def all_true(flag: bool) -> bool:
    """Whether `flag` holds on every process (one collective): decisions that change which
    collectives run (a split, matrix-free or not) must be the same everywhere."""
    import numpy as np
    from jax.experimental import multihost_utils

    if not active():
        return bool(flag)
    got = multihost_utils.process_allgather(np.asarray([1 if flag else 0], np.int32))
    return bool(np.all(np.asarray(got)))


def rows_memory_need(size: int, item: int, index: int | None = None,
                     count: int | None = None) -> int:
    """Bytes one process holds in the rows split of a size × size kernel beyond computing its
    rows: its rows (and their symmetrised copy); process 0 also the gathered kernel and the
    float64 copy its eigensolver works on."""
    index = process_index() if index is None else index
    rows = len(row_range(size, index, count))
    need = 2 * rows * size * item
    if index == 0:
        need += size * size * (item + 8)
    return int(need)


def agree(value: int, what: str) -> None:
    """Every process must hold the same `value` (a size, a decision): refuse otherwise, rather
    than enter collectives that would not match."""
    import numpy as np
    from jax.experimental import multihost_utils

    if not active():
        return
    got = np.asarray(multihost_utils.process_allgather(np.asarray([value], np.int64))).ravel()
    if np.any(got != got[0]):
        raise EngineError(f"the processes disagree on {what}: {got.tolist()} (every process must "
                          "be given the same command and data)")


# --- matrix-free products over every process --------------------------------------------------

def device_count() -> int:
    """Devices of every process (the mesh's size); on one process, its own."""
    import jax

    return len(jax.devices())


class ShardedProduct:
    """K·V with the blocks of samples (leading axis of xb and V; a multiple of the device count)
    spread over every device of every process: each device pulls its samples' Jᵀ V, their sum
    over all devices (a psum, which shard_map inserts itself) is the whole Jᵀ V, and each device
    pushes its own samples. Called
    with host arrays, it returns K·V on every process (host numpy). Compiled once per shape;
    `memory_bytes` is XLA's figure for one device."""

    def __init__(self, pull, push, params, state, xb_shape, V_shape, dtype):
        import jax
        from jax.sharding import NamedSharding, PartitionSpec as P

        mesh = jax.make_mesh((device_count(),), ("samples",))
        self.blocks = NamedSharding(mesh, P("samples"))

        def body(p, s, xb, V):
            # The parameters are replicated (invariant over the mesh) while the samples vary, so
            # shard_map's typing broadcasts them implicitly, and the transpose of that broadcast,
            # in the pull's vjp, is a psum: G is already the whole Jᵀ V, summed over every device
            # of every process. (An explicit psum here would count it P times.)
            return push(p, s, xb, pull(p, s, xb, V), V)

        program = jax.jit(jax.shard_map(body, mesh=mesh,
                                        in_specs=(P(), P(), P("samples"), P("samples")),
                                        out_specs=P("samples")))
        shapes = [jax.ShapeDtypeStruct(s, dtype, sharding=self.blocks) for s in (xb_shape, V_shape)]
        self.compiled = program.lower(replicated(params), replicated(state), *shapes).compile()
        try:
            m = self.compiled.memory_analysis()
            self.memory_bytes = int(m.argument_size_in_bytes + m.output_size_in_bytes
                                    + m.temp_size_in_bytes)
        except Exception:  # noqa: BLE001 — not every backend reports it
            self.memory_bytes = 0

    def __call__(self, params, state, xb, V):
        import jax
        import numpy as np
        from jax.experimental import multihost_utils

        glob = [jax.make_array_from_callback(a.shape, self.blocks, lambda idx, a=a: a[idx])
                for a in (np.asarray(xb), np.asarray(V))]
        out = self.compiled(replicated(params), replicated(state), *glob)
        return np.asarray(multihost_utils.process_allgather(out, tiled=True))
