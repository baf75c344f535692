"""Every bundled preset exports its figures (issue 17): each preset is run (at its quick sizes
unless --full) and its Report saved as SVG, PNG and PDF; the check fails on a missing or invalid
file, on a figure count other than the Report's plots and image grids, and on any warning while
drawing (a glyph the font lacks, a log axis without positive data).

    python scripts/figures_check.py [--full] [--out DIR] [NAME ...]

About a minute at quick sizes on two cores; too slow for the test suite, which checks a few."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

MAGIC = {"svg": b"<?xml", "png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}


def check(name: str, quick: bool, out: Path) -> tuple[int, float, float]:
    """(figures, seconds to compute, seconds to draw and save all three formats)."""
    from ntktui import figures, presets
    from ntktui.render import ImageGrid, Plot
    from ntktui.report import SILENT

    p = presets.load(name)
    start = time.perf_counter()
    report = p.study.analyse(SILENT, **p.arguments(quick=quick))
    computed = time.perf_counter() - start
    expected = sum(isinstance(b, (Plot, ImageGrid)) for b in report.blocks)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fmt, magic in MAGIC.items():
            written = figures.save(report, out / f"{name}.{fmt}")
            if len(written) != expected or expected == 0:
                raise AssertionError(f"{name}: {len(written)} {fmt} files for {expected} plots")
            for path in written:
                if not Path(path).read_bytes().startswith(magic):
                    raise AssertionError(f"{path} is not a {fmt} file")
    return expected, computed, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="presets (default: every bundled one)")
    parser.add_argument("--full", action="store_true", help="the presets' own sizes, not quick")
    parser.add_argument("--out", help="keep the figures in this folder (default: a temporary one)")
    args = parser.parse_args()
    from ntktui import presets

    names = args.names or presets.bundled_names()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        failed = 0
        print(f"{'preset':24s} {'figures':>7s} {'compute s':>10s} {'figures s':>10s}")
        for name in names:
            try:
                count, computed, drawn = check(name, not args.full, out)
            except Exception as exc:  # noqa: BLE001 - report every preset, then fail
                failed += 1
                print(f"{name:24s} FAILED: {type(exc).__name__}: {exc}", flush=True)
                continue
            print(f"{name:24s} {count:7d} {computed:10.2f} {drawn:10.2f}", flush=True)
    print(f"{len(names) - failed} of {len(names)} presets export their figures "
          f"({'full' if args.full else 'quick'} sizes)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
