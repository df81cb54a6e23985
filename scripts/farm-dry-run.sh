#!/usr/bin/env bash
# usage: scripts/farm-dry-run.sh N A..B
#
# The seed farm, locally: runs each of the N shards' exact command (the line
# .github/workflows/seed-farm.yml and farm/k8s/seed-farm-job.yaml run; see
# scripts/check-farm.sh) one after another with the release binary, into a
# fresh temporary directory, then merges the shard files with
# `relaysim merge --all`, as the farm's merge job does.
#
# Build the binary first:  cargo build --release --bin relaysim
# (or point RELAYSIM at another build).
#
# Exit status: merge's (0 complete and clean, 1 complete with a failing seed,
# 2 incomplete), or 3 when merge found the set complete but a shard's
# command broke; 64 on a usage error.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

usage() {
  echo "usage: scripts/farm-dry-run.sh N A..B   (e.g. 4 0..40; first: cargo build --release --bin relaysim)" >&2
  exit 64
}
[ $# -eq 2 ] || usage
case $1 in '' | *[!0-9]*) usage ;; esac
[ "$1" -ge 1 ] || usage

export SHARDS=$1 SEEDS=$2
RELAYSIM=${RELAYSIM:-$root/target/release/relaysim}
# A relative path names a file from here, not from the shard directory.
case $RELAYSIM in /*) ;; *) RELAYSIM=$PWD/$RELAYSIM ;; esac
if [ ! -x "$RELAYSIM" ]; then
  echo "farm-dry-run: error: $RELAYSIM not found: build it first with cargo build --release --bin relaysim" >&2
  exit 64
fi
OUT=$(mktemp -d "${TMPDIR:-/tmp}/relaysim-farm.XXXXXX")
# Like a shard's working directory: failing plans land in
# $OUT/target/relaysim/failures/, which the seed records name.
cd "$OUT"

broken=0
for SHARD in $(seq 1 "$SHARDS"); do
  echo "==> shard $SHARD/$SHARDS: relaysim run --all --seeds $SEEDS --shard $SHARD/$SHARDS --json > $OUT/shard-$SHARD.jsonl"
  if ! (
    rc=0
    "$RELAYSIM" run --all --seeds "$SEEDS" --shard "$SHARD/$SHARDS" --json > "$OUT/shard-$SHARD.jsonl" || rc=$?
    [ "$rc" -le 1 ] || exit "$rc"
  ); then
    echo "farm-dry-run: shard $SHARD/$SHARDS broke (its error is above); merging what it wrote" >&2
    broken=1
  fi
done

echo "==> merge: relaysim merge --all $OUT/shard-*.jsonl"
rc=0
"$RELAYSIM" merge --all "$OUT"/shard-*.jsonl || rc=$?
echo "farm-dry-run: the shard files are in $OUT"
if [ "$rc" -eq 0 ] && [ "$broken" -eq 1 ]; then
  exit 3
fi
exit "$rc"
