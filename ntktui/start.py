"""The `ntk` process's first step, before anything heavy is imported: on Linux it starts itself
again, once, with glibc's huge-page tunable (engine.backend.huge_pages_environ), so that every
command's large XLA buffers come in 2 MiB pages; then it runs the command line."""

from __future__ import annotations

import os
import sys


def with_huge_pages() -> None:
    """Start this process again with the huge-page tunable where it lacks it and it matters (no
    return then); otherwise return. Benchmarks call it too, to time what `ntk` runs."""
    from engine.backend import huge_pages_environ

    environ = huge_pages_environ(dict(os.environ))
    if environ is not None and getattr(sys, "orig_argv", None):
        try:
            os.execve(sys.executable, sys.orig_argv, environ)
        except OSError:
            pass  # run as started: only slower


def entry() -> None:
    with_huge_pages()
    from ntktui.cli import entry as run

    run()
