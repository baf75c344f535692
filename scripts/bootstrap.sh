# Sourced by scripts/ntk, scripts/test, scripts/bench and scripts/gpu-check: make .venv with ntktui
# installed (editable, with the test extra) if it is missing or pyproject.toml or the extra
# changed since it was made.
#   NTK_EXTRA=cuda12|cuda13   also install JAX's CUDA plugin (GPU servers)
#   NTK_WHEELS=DIR            install from this folder of wheels only (no internet needed)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.ntktui-installed"
want="$(cat "$ROOT/pyproject.toml" | cksum) ${NTK_EXTRA:-}"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  PY="${PYTHON:-python3}"
  if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "ntk: needs Python ≥ 3.10 (set PYTHON=/path/to/python3.1x)" >&2
    exit 2
  fi
  PIP_FROM=()
  if [ -n "${NTK_WHEELS:-}" ]; then
    if [ ! -d "$NTK_WHEELS" ]; then
      echo "ntk: NTK_WHEELS=$NTK_WHEELS is not a folder of wheels" >&2
      exit 2
    fi
    PIP_FROM=(--no-index --find-links "$NTK_WHEELS")
  fi
  echo "ntk: setting up $VENV (first run only) ..." >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  what="$ROOT[test${NTK_EXTRA:+,$NTK_EXTRA}]"
  # uv installs the same packages from the same index (or NTK_WHEELS) as pip in a tenth of the
  # time (a cold machine: 45 s -> 5 s); it reads no pip settings, so pip's folders of wheels are
  # passed on. Where uv cannot be had (an NTK_WHEELS folder without it) or fails, pip installs
  # as before.
  UV_FROM=()
  if [ -z "${NTK_WHEELS:-}" ]; then
    for links in ${PIP_FIND_LINKS:-}; do UV_FROM+=(--find-links "$links"); done
  fi
  if PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install --quiet "${PIP_FROM[@]}" uv \
      >/dev/null 2>&1 && "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" \
      "${PIP_FROM[@]}" "${UV_FROM[@]}" -e "$what" >&2; then
    :
  else
    [ -n "${NTK_WHEELS:-}" ] || "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install --quiet "${PIP_FROM[@]}" -e "$what" >&2
  fi
  echo "$want" > "$STAMP"
fi
