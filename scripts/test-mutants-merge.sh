#!/usr/bin/env bash
# Self-test of `scripts/mutants.sh --merge-shards` (the mutation farm's
# verdict), on made-up shard directories: no cargo-mutants, no build, under
# a second. A .ci/run step. Checks that complete shards add up per component
# and exit 0, that a missing shard or an unfinished component exits 2 with
# one line naming it, and that --min-score exits 1 under the bar.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
components=(restream transcode ws publisher pads shared checks)
fail() {
  echo "test-mutants-merge: FAILED: $*" >&2
  exit 1
}

# shard K of 2: each component has a unit pass (2 caught, 1 unviable) and a
# sim pass that caught 1 more and left `left` survivors (missed).
make_shard() {
  local k=$1 left=$2 c d
  for c in "${components[@]}"; do
    d=$tmp/farm/shard-$k-of-2/$c
    mkdir -p "$d/unit.out" "$d/sim.out"
    printf 'a.rs:1:1: x\nb.rs:2:1: y\n' >"$d/unit.out/caught.txt"
    printf 'c.rs:3:1: z\n' >"$d/unit.out/unviable.txt"
    printf 'd.rs:4:1: w\n' >"$d/sim.out/caught.txt"
    : >"$d/sim.out/unviable.txt"
    : >"$d/sim.out/missed.txt"
    for ((i = 0; i < left; i++)); do echo "e.rs:$i:1: v" >>"$d/sim.out/missed.txt"; done
    printf 'unit\nsim\n' >"$d/passes"
    echo 0 >"$d/complete"
  done
}
make_shard 0 0
make_shard 1 1

out=$(bash scripts/mutants.sh --merge-shards "$tmp/farm") || fail "complete shards exit $?"
# 6 caught (2+1 per shard), 1 missed, 2 unviable: 6/7 = 85.7%.
grep -q '^restream *6 *1 *0 *2 *85.7%$' <<<"$out" || fail "restream line wrong: $out"

status=0
bash scripts/mutants.sh --merge-shards "$tmp/farm" --min-score 90 >/dev/null 2>&1 || status=$?
[ "$status" = 1 ] || fail "--min-score 90 under the bar exits $status, not 1"
bash scripts/mutants.sh --merge-shards "$tmp/farm" --min-score 85 >/dev/null || fail "--min-score 85 over the bar"

rm "$tmp/farm/shard-1-of-2/pads/complete"
status=0
err=$(bash scripts/mutants.sh --merge-shards "$tmp/farm" 2>&1 >/dev/null) || status=$?
[ "$status" = 2 ] || fail "an unfinished component exits $status, not 2"
grep -q 'shard 1 of 2: component pads did not finish' <<<"$err" || fail "unfinished not named: $err"

rm -rf "$tmp/farm/shard-1-of-2"
status=0
err=$(bash scripts/mutants.sh --merge-shards "$tmp/farm" 2>&1 >/dev/null) || status=$?
[ "$status" = 2 ] || fail "a missing shard exits $status, not 2"
grep -q 'shard 1 of 2 is missing' <<<"$err" || fail "missing shard not named: $err"

mkdir -p "$tmp/farm/shard-0-of-3"
status=0
bash scripts/mutants.sh --merge-shards "$tmp/farm" >/dev/null 2>&1 || status=$?
[ "$status" = 2 ] || fail "mixed shard counts exit $status, not 2"

echo "test-mutants-merge: ok"
