#!/usr/bin/env bash
# Installs cargo-mutants, pinned, into target/tools (scripts/mutants.sh runs
# it from there). Idempotent: a binary that already reports the pinned
# version is left alone. Built from crates.io with its own lock file
# (`--locked`), so the only network it needs is the package registry.
#
#   bash scripts/install-mutants.sh        # prints the binary's path last
set -euo pipefail
cd "$(dirname "$0")/.."

version=27.1.0
root=${RELAYSIM_TOOLS:-target/tools}
bin=$root/bin/cargo-mutants

if [ -x "$bin" ] && [ "$("$bin" mutants --version 2>/dev/null)" = "cargo-mutants $version" ]; then
  echo "install-mutants: up to date ($bin)" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$root"
# The tool's build gets its own target dir: it must not invalidate (or wait
# on the lock of) the workspace's own build.
CARGO_TARGET_DIR="$root/build" cargo install --locked --quiet \
  --root "$root" --version "=$version" cargo-mutants
rm -rf "$root/build"
got=$("$bin" mutants --version)
if [ "$got" != "cargo-mutants $version" ]; then
  echo "install-mutants: error: installed $bin reports '$got', wanted $version" >&2
  exit 1
fi
echo "install-mutants: installed cargo-mutants $version into $root" >&2
echo "$bin"
