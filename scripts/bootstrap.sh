# Sourced by scripts/ntk and scripts/test: make .venv with ntktui installed (editable, with the
# test extra) if it is missing or pyproject.toml changed since it was made.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.ntktui-installed"
want="$(cat "$ROOT/pyproject.toml" | cksum)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  PY="${PYTHON:-python3}"
  if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "ntk: needs Python ≥ 3.10 (set PYTHON=/path/to/python3.1x)" >&2
    exit 2
  fi
  echo "ntk: setting up $VENV (first run only) ..." >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
  PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test${NTK_EXTRA:+,$NTK_EXTRA}]" >&2
  echo "$want" > "$STAMP"
fi
