#!/usr/bin/env bash
# Self-test of scripts/test-runner.sh (the bound on every test binary):
# a stuck fake test binary is stopped at its bound with exit 124 and a
# message naming the stuck test and not the finished one; a passing and a
# failing binary keep their own exit statuses; a non-test binary passes
# through unbounded. Takes about 3 seconds.
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
echo "check-test-runner: ok (stuck binary stopped at its bound and named; statuses kept; tools unbounded)"
