#!/usr/bin/env bash
# Self-test of scripts/test-runner.sh (the bound on every test binary):
# a stuck fake test binary is stopped at its bound with exit 124 and a
# message naming the stuck test and not the finished one; a passing and a
# failing binary keep their own exit statuses; a non-test binary passes
# through unbounded; and CI's model runner (scripts/models.sh run) fails
# the run on a failed model binary and names it. Takes about 3 seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
runner=$PWD/scripts/test-runner.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/deps"

cat >"$tmp/deps/stuck" <<'FAKE'
#!/usr/bin/env bash
echo "test quick ... ok"
echo "test slow_but_done has been running for over 60 seconds"
echo "test slow_but_done ... ok"
echo "test wedged::forever has been running for over 60 seconds"
exec sleep 600
FAKE
printf '#!/bin/sh\necho "test a ... ok"\nexit 0\n' >"$tmp/deps/pass"
printf '#!/bin/sh\necho "test a ... FAILED"\nexit 101\n' >"$tmp/deps/fail"
printf '#!/bin/sh\nsleep 3\nexit 7\n' >"$tmp/tool"
chmod +x "$tmp/deps/stuck" "$tmp/deps/pass" "$tmp/deps/fail" "$tmp/tool"

fail() {
	echo "check-test-runner: $*" >&2
	exit 1
}

rc=0
RELAYSIM_TEST_LIMIT_SECS=2 "$runner" "$tmp/deps/stuck" >/dev/null 2>"$tmp/err" || rc=$?
((rc == 124)) || fail "a stuck binary exited $rc, expected 124"
grep -q "stuck exceeded its 2s bound and was stopped; still running: wedged::forever (" "$tmp/err" ||
	fail "the bound's message does not name the stuck test: $(cat "$tmp/err")"
grep -q "slow_but_done" "$tmp/err" && fail "the message names a test that finished: $(cat "$tmp/err")"

rc=0
"$runner" "$tmp/deps/pass" >/dev/null || rc=$?
((rc == 0)) || fail "a passing binary exited $rc"
rc=0
"$runner" "$tmp/deps/fail" >/dev/null || rc=$?
((rc == 101)) || fail "a failing binary exited $rc, expected its own 101"
rc=0
RELAYSIM_TEST_LIMIT_SECS=1 "$runner" "$tmp/tool" || rc=$?
((rc == 7)) || fail "a non-test binary was bounded or lost its status (exit $rc, expected 7)"
rc=0
RELAYSIM_TEST_LIMIT_SECS=soon "$runner" "$tmp/deps/pass" 2>/dev/null || rc=$?
((rc == 2)) || fail "a bad RELAYSIM_TEST_LIMIT_SECS exited $rc, expected 2"

# CI's model runner (scripts/models.sh run) over fake model binaries: every
# output printed, .cargo/config.toml's [env] given as cargo gives it, a
# failed binary fails the run and is named, a missing binary or list is
# refused.
models=$tmp/models
mkdir -p "$models"
# shellcheck disable=SC2016 # the fake prints the variable it was given
printf '#!/bin/sh\necho "test model_a ... ok seed=$PROPTEST_RNG_SEED"\n' >"$tmp/deps/loom_a"
printf '#!/bin/sh\necho "test model_b ... FAILED"\nexit 101\n' >"$tmp/deps/loom_b"
chmod +x "$tmp/deps/loom_a" "$tmp/deps/loom_b"
printf 'loom_a %s\nloom_b %s\nshuttle %s\n' "$tmp/deps/loom_a" "$tmp/deps/loom_b" "$tmp/deps/pass" >"$models/binaries"
rc=0
env -u PROPTEST_RNG_SEED RELAYSIM_MODELS_DIR="$models" bash scripts/models.sh run >"$tmp/out" 2>&1 || rc=$?
((rc == 1)) || fail "a failed model binary: models.sh exited $rc, expected 1"
seed=$(sed -n 's/^PROPTEST_RNG_SEED = "\(.*\)"$/\1/p' .cargo/config.toml)
[[ -n $seed ]] || fail "no PROPTEST_RNG_SEED in .cargo/config.toml's [env]"
for want in "test model_a ... ok seed=$seed" "test model_b ... FAILED" "test a ... ok" \
	"loom_b FAILED (exit 101" "--test loom_b" "shuttle passed" "1 of 3 model binaries failed: loom_b"; do
	grep -qF -- "$want" "$tmp/out" || fail "models.sh's output lacks '$want': $(cat "$tmp/out")"
done
printf 'loom_a %s\n' "$tmp/deps/loom_a" >"$models/binaries"
rc=0
RELAYSIM_MODELS_DIR=$models bash scripts/models.sh run >"$tmp/out" 2>&1 || rc=$?
((rc == 0)) || fail "a passing model binary: models.sh exited $rc: $(cat "$tmp/out")"
printf 'loom_a %s\n' "$tmp/deps/gone" >"$models/binaries"
rc=0
RELAYSIM_MODELS_DIR=$models bash scripts/models.sh run >/dev/null 2>&1 || rc=$?
((rc == 2)) || fail "a missing model binary: models.sh exited $rc, expected 2"
rm "$models/binaries"
rc=0
RELAYSIM_MODELS_DIR=$models bash scripts/models.sh run >/dev/null 2>&1 || rc=$?
((rc == 2)) || fail "no list of model binaries: models.sh exited $rc, expected 2"
echo "check-test-runner: ok (stuck binary stopped at its bound and named; statuses kept; tools unbounded; the model runner fails on a failed model)"
