"""Several processes (engine.distributed, `ntk launch`): two local processes over gloo give the
one-process kernel, with the wide layers' chunks shared (width) and with the rows shared, the
matrix-free spectrum too; a peer killed mid-run ends the other with one line. Each two-process
run starts JAX twice, so there are few of them and each checks as much as it can."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import distributed
from engine.errors import EngineError

ROOT = Path(__file__).resolve().parents[1]
KERNEL = ("kernel", "--samples", "24", "--n0", "3", "--hidden", "96,96", "--chunk", "32",
          "--act", "tanh")
MATRIX_FREE = ("kernel", "--samples", "24", "--n0", "3", "--hidden", "16,16", "--matrix-free",
               "--top", "3")


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "SLURM_", "OMPI_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _by_hand(args, *, timeout_s=None, **popen) -> list[subprocess.Popen]:
    """Two processes of `ntk ARGS` joined through the standard environment, set by hand."""
    from ntktui.commands.launch import free_port

    port = free_port()
    extra = {"NTK_DISTRIBUTED_TIMEOUT": timeout_s} if timeout_s else {}
    return [subprocess.Popen([sys.executable, "-m", "ntktui", *args],
                             env=_env(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                                      JAX_NUM_PROCESSES=2, JAX_PROCESS_ID=i, **extra),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
            for i in range(2)]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The one-process JSON and kernel of KERNEL (in this process, through the real CLI)."""
    from ntktui.cli import main

    path = tmp_path_factory.mktemp("one") / "k.npy"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*KERNEL, "--out", str(path), "--json"]) == 0
    return json.loads(out.getvalue()), np.load(path)


def _same_spectrum(a: dict, b: dict) -> None:
    """Kernels equal to round-off have eigenvalues equal within it (Weyl: |Δλ| ≤ ‖ΔK‖₂), an
    absolute bound: λ_min of an ill-conditioned kernel agrees to κ·ε relatively, not ε."""
    for key in ("samples", "parameters", "widths", "below_floor"):
        assert a[key] == b[key], key
    assert a["lambda_max"] == pytest.approx(b["lambda_max"], rel=1e-12)
    ea, eb = (np.array([np.nan if v is None else v for v in d["eigenvalues"]]) for d in (a, b))
    np.testing.assert_allclose(ea, eb, rtol=0, atol=1e-12 * a["lambda_max"])


# --- what is asked for, and the partitions (no processes started) ------------------------------

def test_request_reads_flags_over_environment_and_refuses_half_of_one():
    env = {"JAX_COORDINATOR_ADDRESS": "node0:1234", "JAX_NUM_PROCESSES": "4",
           "JAX_PROCESS_ID": "2"}
    r = distributed.request(environ=env)
    assert (r.coordinator, r.processes, r.process_id) == ("node0:1234", 4, 2)
    r = distributed.request("h:9", 2, 1, environ=env)  # flags win
    assert (r.coordinator, r.processes, r.process_id) == ("h:9", 2, 1)
    assert distributed.request(environ={}) is None  # nothing asks: one process
    assert distributed.request(processes=1, environ={}) is None
    slurm = {"SLURM_NTASKS": "8", "SLURM_STEP_ID": "0"}
    assert distributed.request(environ=slurm).cluster == "SLURM"  # JAX fills in the rest
    for bad in (dict(processes=2, process_id=0), dict(coordinator="nohost", processes=2,
                                                        process_id=0),
                dict(coordinator="h:1", processes=2, process_id=2)):
        with pytest.raises(EngineError):
            distributed.request(environ={}, **bad)


@pytest.mark.parametrize("N,P", [(10, 3), (7, 7), (100, 4), (5, 1)])
def test_row_ranges_cover_the_rows_once_in_order(N, P):
    rows = [distributed.row_range(N, p, P) for p in range(P)]
    assert [i for r in rows for i in r] == list(range(N))
    assert max(map(len, rows)) - min(map(len, rows)) <= 1
    need = [distributed.rows_memory_need(N, 8, p, P) for p in range(P)]
    assert need[0] == 2 * len(rows[0]) * N * 8 + N * N * 16  # process 0 also gathers
    assert all(n == 2 * len(r) * N * 8 for n, r in zip(need[1:], rows[1:]))


# --- two processes ---------------------------------------------------------------------------

def test_launch_shares_width_chunks_and_gives_the_one_process_kernel(one_process, tmp_path):
    """`ntk launch -n 2 -- kernel …` (chunks of the wide layers over both processes' devices)
    gives the one-process JSON and kernel."""
    ref, K1 = one_process
    path = tmp_path / "k.npy"
    r = subprocess.run([sys.executable, "-m", "ntktui", "launch", "-n", "2", "--", *KERNEL,
                        "--split", "width", "--out", str(path), "--json"],
                       env=_env(), capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)  # stdout is exactly one object: gloo's notes do not reach it
    assert got["distributed"] == {"processes": 2, "devices": 2, "split": "width"}
    assert got["streamed_layers"] == ref["streamed_layers"] != []
    _same_spectrum(ref, got)
    K2 = np.load(path)
    assert np.abs(K2 - K1).max() <= 1e-12 * np.abs(K1).max()


def test_environment_by_hand_with_rows_split_gives_the_one_process_kernel(one_process, tmp_path):
    """The same command on two processes started by hand (JAX_* variables), the kernel's rows
    split between them and gathered on process 0; process 1 prints nothing."""
    ref, K1 = one_process
    path = tmp_path / "k.npy"
    procs = _by_hand([*KERNEL, "--split", "rows", "--out", str(path), "--json"])
    (out0, err0), (out1, err1) = (p.communicate(timeout=240) for p in procs)
    assert [p.returncode for p in procs] == [0, 0], err0 + err1
    assert out1 == "" and err1 == ""
    got = json.loads(out0)
    assert got["distributed"]["split"] == "rows"
    _same_spectrum(ref, got)
    K2 = np.load(path)
    assert np.abs(K2 - K1).max() <= 1e-12 * np.abs(K1).max()


def test_matrix_free_top_k_across_two_processes_equals_one(ntk_json):
    """Block Lanczos on products whose samples are split over two processes: the same Ritz
    values, λ_min, trace and number of products as one process."""
    one = ntk_json(*MATRIX_FREE)
    r = subprocess.run([sys.executable, "-m", "ntktui", "launch", "-n", "2", "--",
                        *MATRIX_FREE, "--json"], env=_env(), capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, r.stderr
    two = json.loads(r.stdout)
    assert two["distributed"]["split"] == "products"
    np.testing.assert_allclose(two["top_eigenvalues"], one["top_eigenvalues"], rtol=1e-10)
    assert two["lambda_min"] == pytest.approx(one["lambda_min"], rel=1e-8)
    assert two["trace"] == pytest.approx(one["trace"], rel=1e-12)
    assert two["products"] == one["products"]


def _joined(pid: int) -> bool:
    """Whether a process holds network connections (it has joined the coordinator)."""
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return sum(link.startswith("socket:") for link in links) >= 3


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_a_peer_killed_mid_run_ends_the_other_with_one_line():
    timeout_s = 1
    procs = _by_hand(["kernel", "--samples", "1500", "--hidden", "2048,2048", "--chunk", "256",
                      "--json"], timeout_s=timeout_s)
    try:
        import time

        start = time.monotonic()
        while not _joined(procs[1].pid):  # poll the condition, not a duration
            assert procs[1].poll() is None and time.monotonic() - start < 120
            time.sleep(0.05)
        procs[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        out, err = procs[0].communicate(timeout=4 * timeout_s + 20)
        assert time.monotonic() - killed < 4 * timeout_s + 20
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert procs[0].returncode not in (0, None)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ntk: error: "), err
    assert "process" in lines[0] or "peer" in lines[0]
    assert out == ""
