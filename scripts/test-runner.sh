#!/usr/bin/env bash
# cargo's target runner for this workspace (.cargo/config.toml): every test
# binary `cargo test` starts runs under a time bound, so a test that
# deadlocks fails with a message naming it instead of stalling CI.
#
# - Only test binaries (cargo puts them in target/<profile>/deps/) are
#   bounded; `cargo run`'s binaries and `cargo bench` run as they are.
# - The bound is RELAYSIM_TEST_LIMIT_SECS (default 420 s) per binary; the
#   binary's tests run in parallel inside it, so any one test that hangs
#   fails the binary within the bound.
# - On expiry the binary gets SIGTERM (SIGKILL 10 s later), and this script
#   prints one line naming the binary, the bound, and the tests libtest
#   reported as running for over 60 seconds without finishing. Exit 124.
set -uo pipefail

bin=${1:?usage: test-runner.sh BINARY [ARGS...]}
case "$bin" in
*/deps/*) ;;
*) exec "$@" ;;
esac
for a in "$@"; do
	[[ $a == --bench ]] && exec "$@"
done

limit=${RELAYSIM_TEST_LIMIT_SECS:-420}
if ! [[ $limit =~ ^[1-9][0-9]*$ ]]; then
	echo "test-runner: RELAYSIM_TEST_LIMIT_SECS must be a positive whole number of seconds, not '$limit'" >&2
	exit 2
fi

log=$(mktemp "${TMPDIR:-/tmp}/relaysim-test.XXXXXX")
trap 'rm -f "$log"' EXIT
start=$SECONDS
# --foreground: stay in the caller's process group, so Ctrl-C still reaches
# the tests (their own child processes manage their lifetimes themselves).
timeout --foreground --kill-after=10 "$limit" "$@" | tee "$log"
rc=${PIPESTATUS[0]}
if ((rc == 124 || rc == 137)) && ((SECONDS - start >= limit)); then
	# Tests libtest flagged as slow, minus those that finished afterwards.
	mapfile -t slow < <(sed -n 's/^test \(.*\) has been running for over 60 seconds$/\1/p' "$log")
	hung=()
	for t in "${slow[@]}"; do
		grep -qE "^test ${t//[\[\]\\.*^$]/.} \.\.\. " "$log" || hung+=("$t")
	done
	names=${hung[*]:-"(none flagged yet; the binary's slowest tests)"}
	echo "test-runner: $(basename "$bin") exceeded its ${limit}s bound and was stopped; still running: ${names// /, } (raise RELAYSIM_TEST_LIMIT_SECS only for a test that is slow, not stuck)" >&2
	exit 124
fi
exit "$rc"
