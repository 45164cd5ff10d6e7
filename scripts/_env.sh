# Sourced by the entry-point scripts: makes .venv and installs the project
# into it, re-installing only when pyproject.toml changed. Downloads stay in
# pip's own cache (~/.cache/pip), so a warm rebuild takes seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
_extras="${TASKLOOM_EXTRAS:-dev}"
_stamp=".venv/.taskloom-installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-${_extras//,/_}"
if [ ! -f "$_stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[${_extras}]"
    rm -f .venv/.taskloom-installed-*
    touch "$_stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
