#!/usr/bin/env bash
# The loom and shuttle models (docs/models.md) as CI runs them: built first,
# then run as prebuilt test binaries, so that they can run beside
# `cargo test --workspace` (cargo holds the build directory's lock while its
# tests run, so a second `cargo test` would wait for the first).
#
#   scripts/models.sh build   builds every model binary with cargo, as
#                             `cargo test --workspace --features
#                             relaysim-core/loom --test 'loom_*'` and
#                             `... relaysim-core/shuttle --test shuttle`
#                             build them, and lists them in
#                             target/models/binaries
#   scripts/models.sh run     runs every listed binary, two at a time (the
#                             longest models first), each under
#                             scripts/test-runner.sh's time bound, with
#                             core/ as its working directory as under cargo;
#                             then prints each binary's whole output in the
#                             list's order and one line per binary, and
#                             exits 1 if any failed, naming them
#
# Stop a run by its process group (.ci/run starts it in its own and stops
# that group if CI ends early); a terminal's Ctrl-C reaches the whole group.
#
# Nothing is lost: every binary's output is kept in target/models/<name>.log
# and printed whole; a binary that failed, crashed or hit its bound fails
# the run with its exit code. The list must name exactly the binaries the
# build made: `run` refuses a missing list or binary (exit 2).
#
# RELAYSIM_MODELS_JOBS (default 2) sets how many binaries run at once;
# RELAYSIM_MODELS_DIR (default target/models) where the list and the logs
# are (scripts/check-test-runner.sh runs fake model binaries through it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${RELAYSIM_MODELS_DIR:-target/models}
list=$dir/binaries

# Each checker's build: core's feature, and known-bugs, which the models'
# own known-bug tests require.
loom_args=(--workspace --features "relaysim-core/loom,relaysim-core/known-bugs")
shuttle_args=(--workspace --features "relaysim-core/shuttle,relaysim-core/known-bugs")

# Longest first (docs/models.md's budget), so the two slots end together;
# a model binary not named here runs after these, in name order.
order=(loom_ws loom_transcode_runner shuttle loom_destination
	loom_transcode_broadcaster loom_pads loom_publisher)

build() {
	mkdir -p "$dir"
	local json=$dir/build.jsonl
	: >"$json"
	cargo test "${loom_args[@]}" --test 'loom_*' --no-run --message-format=json-render-diagnostics >>"$json"
	cargo test "${shuttle_args[@]}" --test shuttle --no-run --message-format=json-render-diagnostics >>"$json"
	# cargo's JSON messages name each test target and its executable.
	python3 - "$json" >"$list.new" <<'EOF'
import json, sys
seen = {}
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    exe = m.get("executable")
    if m.get("reason") == "compiler-artifact" and exe and "test" in m["target"]["kind"]:
        seen[m["target"]["name"]] = exe
for name in sorted(seen):
    print(name, seen[name])
EOF
	if ! grep -q '^loom_' "$list.new" || ! grep -q '^shuttle ' "$list.new"; then
		echo "models.sh: the build made no loom or no shuttle test binary (see $json)" >&2
		exit 1
	fi
	mv "$list.new" "$list"
	echo "models.sh: built $(wc -l <"$list") model binaries (listed in $list)"
}

# The cargo command that builds and runs one model binary.
replay() {
	case $1 in
	shuttle) echo "cargo test ${shuttle_args[*]} --test shuttle" ;;
	*) echo "cargo test ${loom_args[*]} --test $1" ;;
	esac
}

run() {
	if [[ ! -s $list ]]; then
		echo "models.sh: no $list; run 'scripts/models.sh build' first" >&2
		exit 2
	fi
	local jobs=${RELAYSIM_MODELS_JOBS:-2}
	if ! [[ $jobs =~ ^[1-9][0-9]*$ ]]; then
		echo "models.sh: RELAYSIM_MODELS_JOBS must be a positive whole number, not '$jobs'" >&2
		exit 2
	fi
	declare -A exe=()
	local name path
	while read -r name path; do
		if [[ ! -x $path ]]; then
			echo "models.sh: $name's binary $path is missing; run 'scripts/models.sh build' again" >&2
			exit 2
		fi
		exe[$name]=$path
	done <"$list"
	# The run order: the named ones that exist, then the rest by name.
	local queue=() n
	for n in "${order[@]}"; do [[ -n ${exe[$n]:-} ]] && queue+=("$n"); done
	while read -r name _; do
		[[ " ${order[*]} " == *" $name "* ]] || queue+=("$name")
	done <"$list"

	# cargo gives the tests it runs .cargo/config.toml's [env] (a value
	# already in the environment wins); so does this.
	local key value
	while IFS=$'\t' read -r key value; do
		[[ -n ${!key+set} ]] || export "$key=$value"
	done < <(python3 -c 'import sys, tomllib
for k, v in tomllib.load(open(".cargo/config.toml", "rb")).get("env", {}).items():
    print(k, v["value"] if isinstance(v, dict) else v, sep="\t")')

	rm -f "$dir"/*.rc "$dir"/*.log
	for n in "${queue[@]}"; do
		while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
		(
			start=$SECONDS
			rc=0
			(cd core && "$root/scripts/test-runner.sh" "${exe[$n]}") >"$dir/$n.log" 2>&1 || rc=$?
			echo "$rc $((SECONDS - start))" >"$dir/$n.rc"
		) &
	done
	wait

	local failed=() rc secs
	for n in "${queue[@]}"; do
		echo "---- $n (${exe[$n]})"
		cat "$dir/$n.log"
	done
	echo
	for n in "${queue[@]}"; do
		if [[ -s $dir/$n.rc ]]; then
			read -r rc secs <"$dir/$n.rc"
		else
			rc="no exit status" secs="?"
		fi
		if [[ $rc == 0 ]]; then
			echo "models.sh: $n passed (${secs}s)"
		else
			echo "models.sh: $n FAILED (exit $rc, ${secs}s); replay: $(replay "$n")"
			failed+=("$n")
		fi
	done
	if ((${#failed[@]})); then
		echo "models.sh: ${#failed[@]} of ${#queue[@]} model binaries failed: ${failed[*]}" >&2
		exit 1
	fi
	echo "models.sh: all ${#queue[@]} model binaries passed"
}

case "${1:-}" in
build) build ;;
run) run ;;
*)
	echo "usage: scripts/models.sh build|run" >&2
	exit 2
	;;
esac
