#!/usr/bin/env bash
# Lints the seed farm's files, offline, with the linters that
# scripts/install-farm-linters.sh puts in target/farm-linters:
#   - actionlint (with shellcheck on its `run:` scripts) on
#     .github/workflows/seed-farm.yml and mutants-farm.yml;
#   - kubernetes-validate --strict against Kubernetes $K8S_VERSION (schemas
#     shipped in the package) on farm/k8s/*.yaml;
#   - shellcheck on every script in scripts/ and on the Indexed Job's pod
#     script;
#   - the farm's own invariant: the workflow, the Job and
#     scripts/farm-dry-run.sh run the very same shard command, and the shard
#     counts (SHARDS, the matrix, completions, parallelism) and the default
#     seed ranges agree; the mutation farm's shard jobs run
#     `scripts/mutants.sh --shard K/N` over 0..SHARDS-1 and its merge adds
#     them up with --merge-shards.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Kubernetes release the manifests are validated against (one that
# kubernetes-validate 1.37.0 ships schemas for; Indexed Jobs'
# backoffLimitPerIndex and podFailurePolicy are GA there).
K8S_VERSION=1.33.0

venv=target/farm-linters
bin=$PWD/$venv/bin
for tool in actionlint kubernetes-validate shellcheck python; do
  if [ ! -x "$bin/$tool" ]; then
    echo "check-farm: error: $venv/bin/$tool missing: run scripts/install-farm-linters.sh first" >&2
    exit 2
  fi
done

status=0
check() {
  local what=$1
  shift
  if "$@"; then
    echo "check-farm: ok: $what"
  else
    echo "check-farm: FAILED: $what" >&2
    status=1
  fi
}

check "actionlint .github/workflows/seed-farm.yml mutants-farm.yml" \
  "$bin/actionlint" -no-color -shellcheck="$bin/shellcheck" .github/workflows/seed-farm.yml .github/workflows/mutants-farm.yml
check "kubernetes-validate --strict (Kubernetes $K8S_VERSION) farm/k8s/*.yaml" \
  "$bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" farm/k8s/*.yaml
check "shellcheck scripts/*.sh" \
  "$bin/shellcheck" scripts/*.sh
check "one shard command, one shard count, one seed range" \
  "$bin/python" - "$bin/shellcheck" <<'PY'
import subprocess, sys, tempfile, yaml

SHARD_CMD = '"$RELAYSIM" run --all --seeds "$SEEDS" --shard "$SHARD/$SHARDS" --json > "$OUT/shard-$SHARD.jsonl" || rc=$?'
problems = []

def lines(text):
    return [l.strip() for l in text.splitlines()]

wf = yaml.safe_load(open(".github/workflows/seed-farm.yml"))
shard_job = wf["jobs"]["shard"]
steps = [s.get("run", "") for s in shard_job["steps"]]
if not any(SHARD_CMD in lines(r) for r in steps):
    problems.append("the workflow's shard job does not run the shard command")
shards = int(wf["env"]["SHARDS"])
matrix = shard_job["strategy"]["matrix"]["shard"]
if matrix != list(range(1, shards + 1)):
    problems.append(f"the workflow's matrix {matrix} is not 1..SHARDS={shards}")
# YAML 1.1 reads the key `on` as true.
triggers = wf.get("on", wf.get(True))
wf_seeds = triggers["workflow_dispatch"]["inputs"]["seeds"]["default"]
if f"inputs.seeds || '{wf_seeds}'" not in wf["env"]["SEEDS"]:
    problems.append(f"the workflow's SEEDS fallback is not its input's default {wf_seeds}")

job = yaml.safe_load(open("farm/k8s/seed-farm-job.yaml"))
spec = job["spec"]
pod = spec["template"]["spec"]["containers"][0]
env = {e["name"]: e.get("value") for e in pod.get("env", [])}
script = pod["args"][0]
if SHARD_CMD not in lines(script):
    problems.append("the Indexed Job's pod does not run the shard command")
if "SHARD=$((JOB_COMPLETION_INDEX + 1))" not in lines(script):
    problems.append("the Indexed Job's pod does not take its shard from JOB_COMPLETION_INDEX + 1")
if spec.get("completionMode") != "Indexed":
    problems.append("the seed farm Job is not an Indexed Job")
k8s_shards = int(env.get("SHARDS", "0"))
if not (spec["completions"] == spec["parallelism"] == k8s_shards):
    problems.append(f"the Job's completions {spec['completions']}, parallelism {spec['parallelism']} and SHARDS {k8s_shards} differ")
if env.get("SEEDS") != wf_seeds:
    problems.append(f"the Job's SEEDS {env.get('SEEDS')} is not the workflow's default {wf_seeds}")
with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
    f.write(script)
    f.flush()
    # Its variables come from the container's env (SC2153, SC2154).
    r = subprocess.run([sys.argv[1], "-s", "sh", "-e", "SC2153,SC2154", f.name])
    if r.returncode != 0:
        problems.append("shellcheck: the Indexed Job's pod script (above)")

if SHARD_CMD not in lines(open("scripts/farm-dry-run.sh").read()):
    problems.append("scripts/farm-dry-run.sh does not run the shard command")

# The mutation farm: cargo-mutants' shards are 0-based.
MUTANTS_CMD = 'bash scripts/mutants.sh --shard "$SHARD/$SHARDS" || rc=$?'
MERGE_CMD = 'bash scripts/mutants.sh --merge-shards farm --min-score "$MIN_SCORE"'
mf = yaml.safe_load(open(".github/workflows/mutants-farm.yml"))
m_shard = mf["jobs"]["shard"]
if not any(MUTANTS_CMD in lines(s.get("run", "")) for s in m_shard["steps"]):
    problems.append("the mutation farm's shard job does not run the shard command")
m_shards = int(mf["env"]["SHARDS"])
m_matrix = m_shard["strategy"]["matrix"]["shard"]
if m_matrix != list(range(0, m_shards)):
    problems.append(f"the mutation farm's matrix {m_matrix} is not 0..SHARDS-1 (SHARDS={m_shards})")
if not any(MERGE_CMD in lines(s.get("run", "")) for s in mf["jobs"]["merge"]["steps"]):
    problems.append("the mutation farm's merge job does not run --merge-shards")

for p in problems:
    print(f"check-farm: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY

exit "$status"
