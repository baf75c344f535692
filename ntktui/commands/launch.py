"""Run a kernel command as P processes on this machine, joined as on a cluster (jax.distributed,
CPU collectives over gloo): `ntk launch -n 2 -- kernel --samples 200 --json`.

Each process gets JAX_COORDINATOR_ADDRESS (a free local port), JAX_NUM_PROCESSES and
JAX_PROCESS_ID. Process 0's output is shown as it comes; the others print only errors. The first
process to fail sets the exit code (its error line is shown) and the rest are stopped; Ctrl-C
stops them all. On a cluster, start the command once per host instead (README: across machines)."""

from __future__ import annotations

from typing import List

import typer

NAME = "launch"


def run(
    processes: int = typer.Option(..., "-n", "--processes", min=1, max=64,
                                  help="How many processes to start."),
    command: List[str] = typer.Argument(..., metavar="-- COMMAND...",
                                        help="The ntk command to run, after --, e.g. kernel "
                                        "--samples 200."),
):
    import sys

    from ntktui.errors import UserError

    if command and command[0] == "ntk":
        command = command[1:]
    if not command:
        raise UserError("ntk launch needs a command after --, e.g. ntk launch -n 2 -- kernel")
    code = launch(processes, [sys.executable, "-m", "ntktui", *command])
    if code:
        raise typer.Exit(code)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(process_id: int, processes: int, port: int, base=None) -> dict:
    """The environment process `process_id` of `processes` joins with (engine.distributed)."""
    import os

    env = dict(os.environ if base is None else base)
    env.update({"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
                "JAX_NUM_PROCESSES": str(processes), "JAX_PROCESS_ID": str(process_id)})
    return env


def launch(processes: int, argv: list[str]) -> int:
    """Start `processes` copies of argv, wait for them; the first nonzero exit code (the rest
    stopped then), or 0. Process 0 writes to our stdout and stderr; the others' stderr is kept and
    shown only if one of them fails first."""
    import subprocess
    import sys
    import threading
    import time

    port = free_port()
    children, errors, readers = [], {}, {}

    def keep(i, stream):
        errors[i] = []
        for line in iter(stream.readline, b""):
            errors[i].append(line)

    try:
        for i in range(processes):
            main = i == 0
            p = subprocess.Popen(argv, env=environment(i, processes, port),
                                 stdout=None if main else subprocess.DEVNULL,
                                 stderr=None if main else subprocess.PIPE)
            children.append(p)
            if not main:
                readers[i] = threading.Thread(target=keep, args=(i, p.stderr), daemon=True)
                readers[i].start()
        while True:
            codes = [p.poll() for p in children]
            failed = next((i for i, c in enumerate(codes) if c not in (None, 0)), None)
            if failed is not None:
                if failed != 0:
                    readers[failed].join(timeout=5)  # its last line: the error
                    sys.stderr.write(b"".join(errors.get(failed, [])).decode(errors="replace"))
                    sys.stderr.flush()
                _stop(children)
                return codes[failed]
            if all(c == 0 for c in codes):
                return 0
            time.sleep(0.05)
    except KeyboardInterrupt:
        _stop(children)
        raise


def _stop(children) -> None:
    """Terminate every child still running (each by its own process), then kill what remains."""
    import time

    for p in children:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 5
    for p in children:
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if p.poll() is None:
            p.kill()
            p.wait()
