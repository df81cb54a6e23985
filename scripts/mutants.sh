#!/usr/bin/env bash
# Mutation testing of the core (and the harness's checks) with cargo-mutants,
# each component judged by the tests that can see it. docs/mutants.md is the
# manual; MUTANTS.md holds the scores.
#
#   scripts/mutants.sh                        full run: every component, one after another
#   scripts/mutants.sh --component publisher  one component (see --help for the names)
#   scripts/mutants.sh --in-diff [BASE]       only code changed since the merge base with
#                                             BASE (default origin/main, else main): CI
#   scripts/mutants.sh --shard K/N            the farm: slice K of N of every component
#   scripts/mutants.sh --list [mode]          print the mutants a mode would test; run nothing
#   scripts/mutants.sh --summary              tabulate the results already in target/mutants
#   scripts/mutants.sh --merge-shards DIR     add up a farm's shards (DIR holds every
#                                             shard-K-of-N directory): exit 2 if one is
#                                             missing or unfinished; with --min-score P,
#                                             exit 1 if a component scores under P%
#
# Options (any mode): --file GLOB (with --component: only these files of
# it; repeatable), --seeds N (scenario seeds per mutant, default 24),
# --jobs J (cargo-mutants jobs, default 1), --budget M (at most about M
# mutants: beyond that every k-th is tested, and the run says so),
# --no-loom (skip the model passes, loom and shuttle),
# and anything after `--` goes to cargo-mutants as is (e.g. `-- --re decide`).
#
# Each component is judged in up to four cargo-mutants passes, cheapest
# first, each over what the one before left alive (`--iterate`): the mutated
# package's own tests (the core's with its integration suites' package);
# then the component's scenario family over
# RELAYSIM_SEEDS=0..N with every bug off, the known-bug detection test and
# the trace/card snapshots; then, for components with shared state, the
# loom models and the shuttle models (each a build with its checker's
# feature). .cargo/mutants.toml holds what every run shares: the scope, the
# exclusions, the timeouts.
#
# Results: target/mutants/<run>/<component>/<pass>.out (caught.txt,
# missed.txt, timeout.txt, unviable.txt, outcomes.json, diff/, log/); the
# last pass's missed.txt lists the survivors. Exit status: 0 when
# every viable mutant tested was caught; 2 when some were missed, 3 when some
# timed out (cargo-mutants' own codes, the worst across components); 4 when a
# component's baseline failed. The score is caught / viable (viable = caught +
# missed + timeout): a mutant that makes a test hang is not a kill, since a
# test must fail, not hang.
set -euo pipefail
# The component globs below are cargo-mutants' to expand, never the shell's.
set -f
cd "$(dirname "$0")/.."
root=$PWD

components=(restream transcode ws publisher pads shared checks)

# The files each component's mutants come from (globs, relative to the root).
files_of() {
  case $1 in
    restream) echo "core/src/restream/**" ;;
    transcode) echo "core/src/transcode/**" ;;
    ws) echo "core/src/session/ws/**" ;;
    publisher) echo "core/src/session/publisher/**" ;;
    pads) echo "core/src/session/pads/**" ;;
    shared) echo "core/src/bugs.rs core/src/deadlines.rs core/src/entropy.rs core/src/event.rs core/src/faults.rs core/src/media.rs core/src/net.rs core/src/rt.rs core/src/session/mod.rs" ;;
    checks) echo "harness/src/check.rs" ;;
    *) return 1 ;;
  esac
}

# The package a component's files belong to.
package_of() {
  case $1 in
    checks) echo relaysim-harness ;;
    *) echo relaysim-core ;;
  esac
}

# The packages whose tests the unit pass runs (comma-separated, as
# cargo-mutants' --test-package takes them): the mutated package's own,
# and for the core its integration suites, which are a package of their
# own (core/tests/integration/Cargo.toml, built at opt-level 0).
unit_packages_of() {
  case $1 in
    checks) echo relaysim-harness ;;
    *) echo relaysim-core,relaysim-core-integration ;;
  esac
}

# The scenario tests (`scenarios::<name>` in scenarios/tests/sim) that judge
# a component: its family's, or every family's for shared code and checks.
scenarios_of() {
  case $1 in
    restream) echo '^scenarios::vod_' ;;
    transcode) echo '^scenarios::transcode_' ;;
    ws) echo '^scenarios::ws_' ;;
    publisher) echo '^scenarios::publisher_' ;;
    pads) echo '^scenarios::pads_' ;;
    shared | checks) echo '^scenarios::' ;;
  esac
}

# The loom models (core/tests/loom_*.rs) that reach a component's shared
# state; none for components without one.
loom_of() {
  case $1 in
    restream) echo loom_destination ;;
    transcode) echo "loom_transcode_broadcaster loom_transcode_runner" ;;
    ws) echo loom_ws ;;
    publisher) echo loom_publisher ;;
    pads) echo loom_pads ;;
    *) echo "" ;;
  esac
}

# The shuttle models (modules of core/tests/shuttle.rs) that drive a
# component's shared state, as a test-name pattern; `time` judges rt.rs.
shuttle_of() {
  case $1 in
    restream) echo '^(destination|controller)::' ;;
    transcode) echo '^(transcode|ingest_bridge)::' ;;
    ws) echo '^(ws_conn|ws_budget)::' ;;
    publisher) echo '^(eos_latch|stop_once|publisher_track|publisher_handle|pipeline_control|pipeline_phase)::' ;;
    pads) echo '^(pad_queue|element|error_slot|session_slot|pump_registry|main_loop)::' ;;
    shared) echo '^time::' ;;
    *) echo "" ;;
  esac
}

# The nextest filtersets of a component's passes. Each pass judges only
# what the one before it left alive (`--iterate`), cheapest first; a mutant
# is caught when any pass catches it, as if one command ran them all.
#  - unit: the mutated package's own tests (for the core: its unit tests
#    and its integration suites' package: proptest suites, the sans-IO
#    models and hostile-input tests; not ws_real_peer, which needs real
#    peers in real time). Only that package and its tests are rebuilt, so
#    this pass is the cheap one;
#  - sim: the component's scenario family with every bug off, the
#    known-bug detection test (a mutant that disarms a known-bug switch or
#    blinds a check fails it) and the trace and card snapshots (the trace is
#    what reviewers read and the checks parse);
#  - loom (below): the loom models of the component's shared state.
unit_filter_of() {
  case $1 in
    checks) echo 'package(relaysim-harness)' ;;
    *) echo '(package(relaysim-core) | package(relaysim-core-integration)) & !test(/^ws_real_peer::/)' ;;
  esac
}
sim_filter_of() {
  local re
  re=$(scenarios_of "$1")
  echo "binary_id(relaysim-scenarios::sim) & (test(/$re/) | test(=detection::every_declared_bug_is_caught_by_a_declared_check) | test(/^snapshots::(passing_traces|reproduction_cards)\$/))"
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  echo "components: ${components[*]}"
}

mode=full
component=
base=
shard=
seeds=24
jobs=1
loom=1
list=0
budget=
merge_dir=
min_score=
narrow=()
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --component)
      mode=component
      component=${2:?--component needs a name}
      shift 2
      ;;
    --in-diff)
      mode=in-diff
      if [ $# -gt 1 ] && [ "${2#-}" = "$2" ]; then
        base=$2
        shift
      fi
      shift
      ;;
    --shard)
      mode=shard
      shard=${2:?--shard needs K/N}
      shift 2
      ;;
    --file)
      narrow+=("${2:?--file needs a path or glob}")
      shift 2
      ;;
    --seeds)
      seeds=${2:?--seeds needs a count}
      shift 2
      ;;
    --jobs)
      jobs=${2:?--jobs needs a count}
      shift 2
      ;;
    --budget)
      budget=${2:?--budget needs a count}
      shift 2
      ;;
    --no-loom)
      loom=0
      shift
      ;;
    --list)
      list=1
      shift
      ;;
    --summary)
      mode=summary
      shift
      ;;
    --merge-shards)
      mode=merge
      merge_dir=${2:?--merge-shards needs the directory holding the shard-K-of-N directories}
      shift 2
      ;;
    --min-score)
      min_score=${2:?--min-score needs a percentage}
      shift 2
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      extra=("$@")
      break
      ;;
    *)
      echo "mutants: unknown argument '$1' (--help lists them)" >&2
      exit 1
      ;;
  esac
done

if [ "$mode" = component ] && ! files_of "$component" >/dev/null; then
  echo "mutants: unknown component '$component'; components: ${components[*]}" >&2
  exit 1
fi
if [ ${#narrow[@]} -gt 0 ] && [ "$mode" != component ]; then
  echo "mutants: --file narrows one --component" >&2
  exit 1
fi
if [ "$mode" = shard ] && ! [[ $shard =~ ^[0-9]+/[1-9][0-9]*$ ]]; then
  echo "mutants: --shard wants K/N with 0 <= K < N, got '$shard'" >&2
  exit 1
fi

out_root=$root/target/mutants

# One line per component, from a finished run: caught and unviable add up
# over the passes (each pass's lists are in <pass>.out), missed and timeout
# are what the last pass left.
count() { if [ -f "$1" ]; then grep -c . "$1" || true; else echo 0; fi; }
summarize() {
  local dir=$1
  printf '%-10s %7s %7s %7s %8s %7s\n' component caught missed timeout unviable score
  local c
  for c in "${components[@]}"; do
    [ -f "$dir/$c/passes" ] || continue
    local caught=0 unviable=0 missed timeout viable score pass last
    while read -r pass; do
      caught=$((caught + $(count "$dir/$c/$pass.out/caught.txt")))
      unviable=$((unviable + $(count "$dir/$c/$pass.out/unviable.txt")))
      last=$pass
    done <"$dir/$c/passes"
    missed=$(count "$dir/$c/$last.out/missed.txt")
    timeout=$(count "$dir/$c/$last.out/timeout.txt")
    viable=$((caught + missed + timeout))
    if [ "$viable" -gt 0 ]; then
      score=$(awk -v a="$caught" -v b="$viable" 'BEGIN { printf "%.1f%%", 100 * a / b }')
    else
      score=-
    fi
    printf '%-10s %7s %7s %7s %8s %7s\n' "$c" "$caught" "$missed" "$timeout" "$unviable" "$score"
  done
}

# --merge-shards: the farm's verdict. Every shard K of N must be there and
# every component in it finished (its `complete` marker, written after its
# last pass); then each component's counts add up over the shards and its
# score is caught / viable over the whole run.
if [ "$mode" = merge ]; then
  if [ -n "$min_score" ] && ! [[ $min_score =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    echo "mutants: --min-score wants a percentage, got '$min_score'" >&2
    exit 1
  fi
  if [ ! -d "$merge_dir" ]; then
    echo "mutants: $merge_dir is not a directory" >&2
    exit 2
  fi
  set +f
  shards=("$merge_dir"/shard-*-of-*/)
  set -f
  if [ ! -d "${shards[0]}" ]; then
    echo "mutants: no shard-K-of-N directory in $merge_dir" >&2
    exit 2
  fi
  n=
  for d in "${shards[@]}"; do
    name=$(basename "$d")
    this=${name##*-of-}
    if [ -n "$n" ] && [ "$this" != "$n" ]; then
      echo "mutants: $merge_dir mixes shard counts ($n and $this)" >&2
      exit 2
    fi
    n=$this
  done
  incomplete=0
  for ((k = 0; k < n; k++)); do
    d=$merge_dir/shard-$k-of-$n
    if [ ! -d "$d" ]; then
      echo "mutants: shard $k of $n is missing" >&2
      incomplete=1
      continue
    fi
    for c in "${components[@]}"; do
      if [ ! -f "$d/$c/complete" ]; then
        echo "mutants: shard $k of $n: component $c did not finish" >&2
        incomplete=1
      fi
    done
  done
  printf '%-10s %7s %7s %7s %8s %7s\n' component caught missed timeout unviable score
  below=0
  for c in "${components[@]}"; do
    caught=0 unviable=0 missed=0 timeout=0
    for ((k = 0; k < n; k++)); do
      d=$merge_dir/shard-$k-of-$n/$c
      [ -f "$d/passes" ] || continue
      last=
      while read -r pass; do
        caught=$((caught + $(count "$d/$pass.out/caught.txt")))
        unviable=$((unviable + $(count "$d/$pass.out/unviable.txt")))
        last=$pass
      done <"$d/passes"
      [ -n "$last" ] || continue
      missed=$((missed + $(count "$d/$last.out/missed.txt")))
      timeout=$((timeout + $(count "$d/$last.out/timeout.txt")))
    done
    viable=$((caught + missed + timeout))
    if [ "$viable" -gt 0 ]; then
      score=$(awk -v a="$caught" -v b="$viable" 'BEGIN { printf "%.1f", 100 * a / b }')
      if [ -n "$min_score" ] && awk -v s="$score" -v m="$min_score" 'BEGIN { exit !(s < m) }'; then
        below=1
      fi
      score=$score%
    else
      score=-
    fi
    printf '%-10s %7s %7s %7s %8s %7s\n' "$c" "$caught" "$missed" "$timeout" "$unviable" "$score"
  done
  echo "survivors: $merge_dir/shard-*-of-$n/<component>/<last pass>.out/{missed,timeout}.txt"
  if [ "$incomplete" = 1 ]; then
    echo "mutants: the shards are incomplete: no score stands" >&2
    exit 2
  fi
  if [ "$below" = 1 ]; then
    echo "mutants: a component scores under $min_score%" >&2
    exit 1
  fi
  exit 0
fi

if [ "$mode" = summary ]; then
  found=0
  set +f
  for d in "$out_root"/*/; do
    [ -d "$d" ] || continue
    found=1
    echo "== ${d#"$root"/}"
    summarize "${d%/}"
  done
  [ "$found" = 1 ] || echo "mutants: no results under ${out_root#"$root"/} yet" >&2
  exit 0
fi

# cargo-mutants itself, installed (pinned) on first use: a mode with
# nothing to test (an --in-diff run on a change outside the scope) never
# pays for it.
install() {
  bin=$(bash scripts/install-mutants.sh)
  case $bin in /*) ;; *) bin=$root/$bin ;; esac
}

# Mutant builds get their own target dir, never one the workspace builds
# into: cargo names a workspace crate's artifacts after its path relative to
# the workspace root, so a mutated copy's build and the real tree's share
# file names, and a mutant left half-built (an interrupted run) can be taken
# for the real thing by the next ordinary build there.
# The loom and shuttle passes build there too, with core's loom or shuttle
# feature (so each such pass rebuilds the workspace crates once).
build_dir=${MUTANTS_TARGET_DIR:-$root/target/mutants-build}
case $build_dir in /*) ;; *) build_dir=$root/$build_dir ;; esac

# Each run names its component's files with --file. cargo-mutants adds those
# to the config's examine_globs (the whole scope) instead of narrowing it, so
# the runs read a copy of the config without that one line.
mkdir -p "$out_root"
config=$out_root/component-config.toml
grep -v '^examine_globs' .cargo/mutants.toml >"$config"
budget_config=$config

# The components a mode touches, and its cargo-mutants arguments.
selected=()
mode_args=()
run_name=$mode
case $mode in
  full) selected=("${components[@]}") ;;
  component) selected=("$component") ;;
  shard)
    selected=("${components[@]}")
    mode_args=(--shard "$shard")
    run_name=shard-${shard%/*}-of-${shard#*/}
    ;;
  in-diff)
    if [ -z "$base" ]; then
      if git rev-parse --verify -q origin/main >/dev/null; then base=origin/main; else base=main; fi
    fi
    merge_base=$(git merge-base HEAD "$base")
    # On the base itself (CI on a clone of main) the change is empty: what
    # landed was judged as a change before it landed. To judge the last
    # commit anyway, name its parent: --in-diff HEAD^1.
    if [ "$merge_base" = "$(git rev-parse HEAD)" ] && [ -z "$(git status --porcelain -- core/src harness/src/check.rs)" ]; then
      echo "mutants: HEAD is $base itself: no change to judge (--in-diff HEAD^1 judges the last commit)"
    fi
    mkdir -p "$out_root/in-diff"
    patch=$out_root/in-diff/change.patch
    # Against the working tree: uncommitted changes count too.
    git diff --no-ext-diff --no-color "$merge_base" -- core/src harness/src/check.rs >"$patch"
    echo "mutants: in-diff against $base (merge base ${merge_base:0:12}), $(grep -c '^+++ ' "$patch" || true) file(s) changed in scope"
    for c in "${components[@]}"; do
      for glob in $(files_of "$c"); do
        # A glob's directory part (or the file itself) names what it covers.
        prefix=${glob%%\**}
        if grep -q "^+++ b/$prefix" "$patch"; then
          selected+=("$c")
          break
        fi
      done
    done
    mode_args=(--in-diff "$patch")
    ;;
esac

if [ ${#selected[@]} -eq 0 ]; then
  echo "mutants: nothing in scope changed; no mutant to test"
  exit 0
fi

install

# A budget bounds a run's cost: with more mutants than that, every k-th is
# tested (round-robin shard 0 of k), and the run says so.
if [ -n "$budget" ] && [ "$mode" != shard ]; then
  total=0
  for c in "${selected[@]}"; do
    globs=()
    for glob in $(files_of "$c"); do globs+=(--file "$glob"); done
    [ ${#narrow[@]} -gt 0 ] && { globs=(); for glob in "${narrow[@]}"; do globs+=(--file "$glob"); done; }
    n=$("$bin" mutants --config "$budget_config" --package "$(package_of "$c")" "${globs[@]}" \
      "${mode_args[@]}" --list "${extra[@]}" | grep -c ':' || true)
    total=$((total + n))
  done
  if [ "$total" -gt "$budget" ]; then
    k=$(((total + budget - 1) / budget))
    mode_args+=(--shard "0/$k" --sharding round-robin)
    echo "mutants: $total mutants over the budget of $budget: testing every ${k}th (the full run is the farm's)"
  fi
fi


# One pass: cargo-mutants over the component, judged by one or more
# packages' tests (comma-separated) under one nextest filterset. The first pass starts afresh; later ones take
# only the survivors. Each pass's lists are kept in <pass>.out
# (cargo-mutants keeps one generation only).
#
# cargo-mutants runs its baseline (the unmutated tree, which sets the test
# timeout) on the mutated package's tests, whatever --test-package says; for
# a pass whose judges live in another package or another build (the core's
# integration suites, the scenarios, the models), that baseline would test
# nothing or only part of them. Every pass therefore runs its own baseline
# here, on exactly the tests and build its mutants get (it must pass: a
# failing one would count every mutant as caught), and hands cargo-mutants
# the timeout it implies.
# The build dir holds the last mutant's build of the workspace crates, under
# the same file names a build of the real tree uses (cargo names them after
# their path relative to the workspace root, and its dep-info paths are
# relative too). A later build of the real tree there compares the real
# sources' older mtimes with that build and takes the mutant for fresh, so a
# baseline would judge a mutant, not the tree (seen: a sim baseline failing
# with the last publisher mutant's trace). Every pass therefore starts by
# removing the workspace crates' artifacts from the build dir; dependencies
# stay built.
forget_mutants() {
  local pkgs=() p
  for p in $(cargo metadata --no-deps --format-version 1 | python3 -c 'import json, sys; print(" ".join(p["name"] for p in json.load(sys.stdin)["packages"]))'); do
    pkgs+=(-p "$p")
  done
  cargo clean --quiet "${pkgs[@]}"
}

run_pass() {
  local c=$1 pass=$2 out=$3 test_pkg=$4 filter=$5 targets=${6:-} profile=${7:-}
  local args=(--output "$out" --test-package "$test_pkg") nextest_profile=()
  local pass_features=("${features[@]}") target_args=() pkg_args=() opt_args=() t
  for t in ${test_pkg//,/ }; do pkg_args+=(--package "$t"); done
  # The unit pass builds the workspace crates at opt-level 0 (the
  # dependencies stay as built, at 2): its tests take the same few seconds
  # either way, but a mutant's rebuild of the core and its test binaries
  # is about 6x cheaper (measured: a mutated async fn, whose future every
  # caller embeds, rebuilt in 37 s at 1 and 6.6 s at 0). The later passes
  # run simulations and model checkers, whose run time opt-level 1 keeps.
  if [ "$pass" = unit ]; then
    for t in relaysim-core relaysim-harness; do
      opt_args+=("--config=profile.dev.package.$t.opt-level=0")
      args+=("--cargo-arg=--config=profile.dev.package.$t.opt-level=0")
    done
  fi
  # The test targets the filter can select, when it names them: only those
  # are built, per mutant and in the baseline (the sim pass's build was
  # every test binary of the scenarios crate, its unit tests and CLI tests
  # included, for one binary's tests).
  for t in $targets; do
    target_args+=("--test=$t")
    args+=("--cargo-arg=--test=$t")
  done
  forget_mutants
  if [ "$pass" = loom ] || [ "$pass" = shuttle ]; then
    # The models build only with their checker's feature of core.
    pass_features+=(--features "relaysim-core/$pass")
    args+=(--features "relaysim-core/$pass")
  fi
  if [ -n "$profile" ]; then
    args+=(--profile "$profile")
    nextest_profile=(--cargo-profile "$profile")
  fi
  local log=$out/$pass-baseline.log t0 t1 t2 timeout
  echo "   $pass baseline (unmutated): cargo nextest run ${pkg_args[*]} ${target_args[*]} ${nextest_profile[*]} ${opt_args[*]} -E '$filter'"
  t0=$SECONDS
  if ! cargo nextest run --no-run "${pkg_args[@]}" "${target_args[@]}" "${pass_features[@]}" "${nextest_profile[@]}" "${opt_args[@]}" >"$log" 2>&1; then
    echo "mutants: $c: the $pass pass's baseline does not build (see $log)" >&2
    exit 4
  fi
  t1=$SECONDS
  if ! cargo nextest run "${pkg_args[@]}" "${target_args[@]}" "${pass_features[@]}" "${nextest_profile[@]}" "${opt_args[@]}" -E "$filter" >>"$log" 2>&1; then
    echo "mutants: $c: the $pass pass's baseline fails on the unmutated tree (see $log)" >&2
    exit 4
  fi
  t2=$SECONDS
  timeout=$((3 * (t2 - t1)))
  [ "$timeout" -ge 60 ] || timeout=60
  echo "   $pass baseline passed: build $((t1 - t0)) s, tests $((t2 - t1)) s; test timeout $timeout s"
  args+=(--baseline skip --timeout "$timeout" --build-timeout "$build_timeout")
  # The first pass starts afresh; the later ones judge its survivors.
  [ "$pass" = unit ] || args+=(--iterate)
  local status=0
  "$bin" "${common[@]}" "${args[@]}" "${extra[@]}" -- -E "$filter" || status=$?
  if [ "$status" = 4 ] || [ "$status" -ge 5 ]; then
    echo "mutants: $c: the $pass pass failed with status $status (see $out/mutants.out/debug.log)" >&2
    exit "$status"
  fi
  # An --in-diff run whose change yields no mutant writes no results.
  if [ -d "$out/mutants.out" ]; then
    rm -rf "${out:?}/$pass.out"
    cp -r "$out/mutants.out" "$out/$pass.out"
    echo "$pass" >>"$out/passes"
  fi
  return "$status"
}

# The features every run builds with (.cargo/mutants.toml's `features`):
# the baselines run here must build what cargo-mutants builds.
features=(--features relaysim-core/known-bugs --features relaysim-core/fault-points)
# Builds of the later passes, which run without cargo-mutants' baseline,
# are bounded by this (seconds): a mutant that sends const evaluation into
# a loop must not stall a run.
build_timeout=${MUTANTS_BUILD_TIMEOUT:-1800}

survivors() { echo $(($(count "$1/mutants.out/missed.txt") + $(count "$1/mutants.out/timeout.txt"))); }

worst=0
for c in "${selected[@]}"; do
  out=$out_root/$run_name/$c
  file_args=()
  if [ ${#narrow[@]} -gt 0 ]; then
    for glob in "${narrow[@]}"; do file_args+=(--file "$glob"); done
  else
    for glob in $(files_of "$c"); do file_args+=(--file "$glob"); done
  fi
  pkg=$(package_of "$c")
  common=(mutants --config "$config" --package "$pkg" "${file_args[@]}" "${mode_args[@]}" --jobs "$jobs")
  if [ "$list" = 1 ]; then
    echo "== $c"
    "$bin" "${common[@]}" --list "${extra[@]}"
    continue
  fi
  rm -rf "$out"
  mkdir -p "$out"
  status=0

  echo "== $c: unit pass: mutants of ${file_args[*]}"
  CARGO_TARGET_DIR=$build_dir run_pass "$c" unit "$out" "$(unit_packages_of "$c")" "$(unit_filter_of "$c")" || status=$?

  if [ "$(survivors "$out")" -gt 0 ]; then
    echo "== $c: sim pass over $(survivors "$out") survivor(s): /$(scenarios_of "$c")/ over RELAYSIM_SEEDS=0..$seeds"
    status=0
    CARGO_TARGET_DIR=$build_dir RELAYSIM_SEEDS=0..$seeds \
      run_pass "$c" sim "$out" relaysim-scenarios "$(sim_filter_of "$c")" sim || status=$?
  fi

  # The loom models see preemption inside the shared-state types, which no
  # scenario can (turmoil runs a host's tasks on one thread).
  models=$(loom_of "$c")
  if [ "$loom" = 1 ] && [ -n "$models" ] && [ "$(survivors "$out")" -gt 0 ]; then
    loom_filter=
    for m in $models; do loom_filter="${loom_filter:+$loom_filter | }binary($m)"; done
    echo "== $c: loom pass over $(survivors "$out") survivor(s): $models"
    status=0
    CARGO_TARGET_DIR=$build_dir run_pass "$c" loom "$out" relaysim-core "$loom_filter" "$models" || status=$?
  fi
  # The shuttle models: the whole surface of the component's shared-state
  # types under randomized preemption, including bounded waits.
  pattern=$(shuttle_of "$c")
  if [ "$loom" = 1 ] && [ -n "$pattern" ] && [ "$(survivors "$out")" -gt 0 ]; then
    echo "== $c: shuttle pass over $(survivors "$out") survivor(s): /$pattern/"
    status=0
    CARGO_TARGET_DIR=$build_dir run_pass "$c" shuttle "$out" relaysim-core "binary(shuttle) & test(/$pattern/)" shuttle || status=$?
  fi
  # Every pass this component needed ran: --merge-shards counts it.
  echo "$status" >"$out/complete"
  if [ "$status" -gt "$worst" ]; then worst=$status; fi
done

if [ "$list" = 0 ]; then
  echo
  summarize "$out_root/$run_name"
  echo "results: ${out_root#"$root"/}/$run_name/<component>/<pass>.out; survivors in the last pass's missed.txt"
fi
exit "$worst"
