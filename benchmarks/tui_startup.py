"""How fast the dashboard answers (issues 5 and 12), on whatever machine runs it.

1. First screen: wall time from starting a fresh `python` process to the preset browser's first
   paint (headless Textual), against two references timed in the same run in fresh processes:
   `import textual.app` (the floor any Textual app pays) and `import jax` plus a first array
   (what the first screen would wait for if JAX were imported before it). The target is 1 s
   on the 2-core machine, also while another process keeps a core busy (issue 12): the first
   screen is timed again with a Python busy loop running beside it. Also: when the background
   JAX warm-up has finished.
2. Mask keys: the time from a key press's Report.adjust (new η or T on the kept spectrum) to
   the redrawn plot text at 80 columns, against the first analysis (spectrum + masks) of the
   same preset, seed 003 Fig. 2 at its full size.

Each process-level timing is the median of several fresh processes (the cores may be shared;
the machine line gives the load).

    .venv/bin/python benchmarks/tui_startup.py          # or: scripts/bench tui
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchkit import machine, save

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 5

# Paints the browser, prints "ready <s since process start>" then waits for the JAX warm-up.
CHILD = r"""
import sys, time
from ntktui.tui.app import NtkApp

class Timed(NtkApp):
    def on_mount(self):  # Textual calls NtkApp.on_mount too (handlers run along the MRO)
        self.call_after_refresh(self._laid_out)

    def _laid_out(self):
        # painted: a refresh after the browser's list has its size (not just the app's mount)
        from ntktui.tui.screens import BrowserScreen

        screen = self.screen
        if isinstance(screen, BrowserScreen) and screen.query("#presets") and \
                screen.query_one("#presets").size.height > 0:
            self.call_after_refresh(self._painted)
        else:
            self.call_after_refresh(self._laid_out)

    def _painted(self):
        print("painted", flush=True)

    def on_worker_state_changed(self, event):
        super().on_worker_state_changed(event)
        if event.worker.group == "warm-up" and event.state.name == "SUCCESS":
            print("jax", self.device, flush=True)
            self.exit()

Timed().run(headless=True, size=(80, 24))
"""


# The floor: a bare Textual app with the browser's widgets (a header, a list, a footer).
FLOOR = r"""
from textual.app import App
from textual.widgets import Footer, Header, OptionList

class Floor(App):
    def compose(self):
        yield Header()
        yield OptionList(*[f"preset {i}" for i in range(30)])
        yield Footer()

    def on_mount(self):
        self.call_after_refresh(self._laid_out)

    def _laid_out(self):
        if self.query_one(OptionList).size.height > 0:
            self.call_after_refresh(self._painted)
        else:
            self.call_after_refresh(self._laid_out)

    def _painted(self):
        print("painted", flush=True)
        self.exit()

Floor().run(headless=True, size=(80, 24))
"""


def spawn(code: str, marks: tuple[str, ...]) -> dict[str, float]:
    """Seconds from starting `python -c code` to each line that begins with a mark, and to exit."""
    env = {**os.environ, "NTK_NO_COMPILE_CACHE": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env=env)
    seen = {}
    for line in proc.stdout:
        for mark in marks:
            if line.startswith(mark) and mark not in seen:
                seen[mark] = time.perf_counter() - start
    proc.wait()
    seen["exit"] = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {code[:60]}")
    return seen


def median_of(code: str, marks: tuple[str, ...]) -> dict[str, float]:
    runs = [spawn(code, marks) for _ in range(REPEATS)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


BUSY = "while True: pass"  # another process keeping one core busy


def with_a_busy_core(code: str, marks: tuple[str, ...]) -> dict[str, float]:
    """median_of while a busy loop runs in another process (stopped afterwards)."""
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        return median_of(code, marks)
    finally:
        busy.kill()
        busy.wait()


def mask_keys() -> dict:
    sys.path.insert(0, str(ROOT))
    from ntktui import presets
    from ntktui.render import render
    from ntktui.report import compute

    p = presets.load("seed003-fig2")
    args = p.values()
    start = time.perf_counter()
    report = compute("mask", **args)
    first = time.perf_counter() - start
    presses = []
    eta, steps = report.payload["eta_relative"], report.payload["steps"]
    for i in range(20):
        eta = eta * 1.25 if eta * 1.25 < 1.99 else 0.5
        steps = steps * 2 if i % 2 else steps
        t0 = time.perf_counter()
        report = report.adjust(eta=eta, steps=steps)
        texts = [render(plot, width=76, height=17, color=True) for plot in report.plots()]
        presses.append(time.perf_counter() - t0)
    assert all(texts)
    return {"preset": p.name, "width": args.get("width"), "first_analysis_s": first,
            "key_to_redraw_first_s": presses[0], "key_to_redraw_median_s":
            statistics.median(presses[1:]), "ratio_to_first_analysis":
            statistics.median(presses[1:]) / first}


def main() -> None:
    textual = median_of("import textual.app", ())["exit"]
    jax = median_of("import jax, jax.numpy as jnp; jnp.zeros(1).block_until_ready()", ())["exit"]
    tui = median_of(CHILD, ("painted", "jax"))
    floor = median_of(FLOOR, ("painted",))["painted"]
    busy = with_a_busy_core(CHILD, ("painted", "jax"))
    floor_busy = with_a_busy_core(FLOOR, ("painted",))["painted"]
    keys = mask_keys()
    out = {
        "machine": machine(),
        "first_screen_s": tui["painted"], "jax_ready_s": tui["jax"],
        "first_screen_busy_core_s": busy["painted"], "jax_ready_busy_core_s": busy["jax"],
        "reference_bare_textual_app_s": floor, "reference_bare_textual_app_busy_core_s":
        floor_busy, "first_screen_over_bare_app": tui["painted"] / floor,
        "first_screen_over_bare_app_busy_core": busy["painted"] / floor_busy,
        "reference_import_textual_s": textual, "reference_import_jax_s": jax,
        "first_screen_over_import_jax": tui["painted"] / jax,
        "first_screen_target_s": 1.0, "mask_keys": keys,
    }
    save("tui_startup", out)
    print(out["machine"])
    print(f"first screen (browser painted)  {tui['painted']:.2f} s   target 1 s   "
          f"(median of {REPEATS} fresh processes)")
    print(f"  with a core kept busy          {busy['painted']:.2f} s")
    print(f"  reference: a bare Textual app (header, list, footer) painted {floor:.2f} s, "
          f"{floor_busy:.2f} s with the busy core → ratios {tui['painted'] / floor:.2f}, "
          f"{busy['painted'] / floor_busy:.2f}")
    print(f"  reference: import textual.app {textual:.2f} s; import jax + first array {jax:.2f} s"
          f"  → first screen / jax = {out['first_screen_over_import_jax']:.2f}")
    print(f"JAX ready in the background     {tui['jax']:.2f} s after start")
    print(f"mask key → redrawn plots        {1e3 * keys['key_to_redraw_median_s']:.1f} ms median "
          f"(first press {1e3 * keys['key_to_redraw_first_s']:.1f} ms), against "
          f"{keys['first_analysis_s']:.2f} s for the first analysis of {keys['preset']} "
          f"(ratio {keys['ratio_to_first_analysis']:.3f})")


if __name__ == "__main__":
    main()
