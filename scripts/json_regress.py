"""Capture every command's --json numbers, and compare two captures (a refactor keeps them).

    .venv/bin/python scripts/json_regress.py capture DIR    # run the command lines below
    .venv/bin/python scripts/json_regress.py compare OLD NEW

Timings, versions, times and the command line differ from run to run and are left out of the
comparison; every other value must be equal (floats to 1e-12 relative, reported per key). New
keys in NEW are listed but are not differences.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NTK = [str(ROOT / ".venv" / "bin" / "ntk")]

LINES = {
    "spectrum-default": "spectrum",
    "spectrum-two": "spectrum --act relu --act sinc --width 64",
    "spectrum-f32": "spectrum --act tanh --width 32 --samples 48 --scale 8 --dtype float32",
    "components": "components --width 64 --count 3",
    "components-2d": "components --2d --side 12 --count 3",
    "mask-default": "mask",
    "mask-edit": "mask --act tanh --width 64 --eta 0.5 --steps 100 --lam 1e-3 --k 8",
    "iterations": "iterations --width 64",
    "reconstruct": "reconstruct --k 4,8,16 --act relu --act sinc",
    "spline": "spline",
    "kernel-small": "kernel --samples 20 --n0 5 --hidden 64,64",
    "kernel-cos": "kernel --act cos --samples 16 --n0 4 --hidden 32 --param unscaled --sigma-w 0.3 "
                  "--sigma-b 0.1 --dtype float32",
    "kernel-digits": "kernel --dataset digits --samples 30 --hidden 64",
    "kernel-inf-relu": "kernel --infinite --samples 20 --n0 5 --depth 4",
    "kernel-inf-tanh": "kernel --infinite --act tanh --samples 12 --n0 3 --depth 3 --order 32",
    "lmin": "lmin --samples 10,20 --hidden 8N,50 --n0 50",
    "lipschitz": "lipschitz --widths 64,256 --n0 50 --samples 100",
    "memorize": "memorize --widths 2,8 --samples 20 --n0 10 --steps 100",
    "condition-inf": "condition --depth 1:5 --samples 20 --n0 20",
    "condition-width": "condition --width 64 --depth 1:3 --samples 10 --n0 10",
    "condition-tanh": "condition --act tanh --depth 1:3 --samples 10 --n0 4",
    "eoc": "eoc --depth 1:5 --samples 20 --n0 20",
    "separation": "separation --depth 1:5",
}
PRESETS = ["seed000-fig1", "seed000-fig2", "seed000-fig3-4", "seed000-memorize", "seed001-eoc",
           "seed001-kappa-depth", "seed002-conditioning", "seed002-separation", "seed003-fig2",
           "seed003-fig3", "seed003-fig4", "seed003-fig5", "seed003-fig6a", "seed003-fig6b",
           "seed003-fig7", "seed003-fig8", "seed003-fig9"]
VOLATILE = {"timings", "provenance", "import_s", "compile_s", "compute_s", "kernel_s",
            "spectrum_s", "elapsed_s"}


def capture(folder: Path) -> None:
    import shlex

    folder.mkdir(parents=True, exist_ok=True)
    jobs = {name: shlex.split(line) for name, line in LINES.items()}
    jobs.update({f"run-{p}": ["run", p, "--quick"] for p in PRESETS})
    for name, argv in jobs.items():
        done = subprocess.run(NTK + argv + ["--json"], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name}: exit {done.returncode}: {done.stderr.strip()[-300:]}", file=sys.stderr)
            continue
        (folder / f"{name}.json").write_text(done.stdout)
        print(f"{name}: ok", file=sys.stderr)


def _diff(old, new, path: str, out: list, added: list) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key in VOLATILE:
                continue
            if key not in new:
                out.append(f"{path}.{key}: missing")
            else:
                _diff(old[key], new[key], f"{path}.{key}", out, added)
        added.extend(f"{path}.{k}" for k in new if k not in old)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            out.append(f"{path}: length {len(old)} → {len(new)}")
        for i, (a, b) in enumerate(zip(old, new)):
            _diff(a, b, f"{path}[{i}]", out, added)
    elif isinstance(old, float) and isinstance(new, (int, float)) and not isinstance(new, bool):
        if not math.isclose(old, new, rel_tol=1e-12, abs_tol=0.0):
            out.append(f"{path}: {old!r} → {new!r}")
    elif old != new:
        out.append(f"{path}: {old!r} → {new!r}")


def compare(old_dir: Path, new_dir: Path) -> int:
    bad = 0
    for old_file in sorted(old_dir.glob("*.json")):
        new_file = new_dir / old_file.name
        if not new_file.exists():
            print(f"{old_file.stem}: no new capture")
            bad += 1
            continue
        out, added = [], []
        _diff(json.loads(old_file.read_text()), json.loads(new_file.read_text()), "", out, added)
        status = "same" if not out else f"{len(out)} differences"
        print(f"{old_file.stem}: {status}" + (f" (new keys: {', '.join(sorted(set(added)))})"
                                              if added else ""))
        for line in out[:10]:
            print("   ", line)
        bad += bool(out)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "capture":
        capture(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
