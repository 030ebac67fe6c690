#!/usr/bin/env bash
# run_slurm_e2e.sh - end-to-end test of profiles/slurm: the real DAG on tests/micro.yaml with
# the method wd (the KD data, and WD's chain of two runs on it; pytest runs every method), every
# job submitted with sbatch to a real single-node SLURM cluster (start_slurm.sh).
#
#   bash tests/cluster/run_slurm_e2e.sh          # from any directory, as root; exit 0 = passed
#
# Needs: Debian 12 (apt-get), root, the project installed (`pip install -e .`). Installs the
# SLURM packages and, if missing, snakemake-executor-plugin-slurm into the caller's Python.
#
# Steps: start SLURM -> `snakemake --profile profiles/slurm all --configfile tests/micro.yaml
# <methods: [wd]> --config results_dir=<fresh temp dir>` under `timeout -s KILL`, with the teacher's job
# signalled as at a time limit once it has made 15 updates -> check the results table ->
# check that every job went through SLURM (sbatch submissions in the snakemake log; sacct: state,
# partition, account, rule, memory, CPUs, batch script = the caller's Python) -> summary -> stop
# SLURM (trap).
#
# Environment:
#   PYTHON            interpreter to use (default: `python` on PATH, else python3); its
#                     environment must have the project installed. Jobs use the same one.
#   E2E_TIMEOUT_S     hard limit for the snakemake run (default 1800: a guard against a hang,
#                     not a speed requirement)
#   KEEP_SLURM=1      leave the SLURM daemons running afterwards (default: stop them)
#   KEEP_RESULTS=1    keep the results dir after a successful run (always kept on failure)
#   SLURM_ACCOUNTING  passed to start_slurm.sh (default slurmdbd; `none` adds
#                     --slurm-status-command squeue and checks jobs with scontrol instead of sacct)
#   E2E_NO_PIP=1      fail instead of pip-installing a missing SLURM executor plugin
#   E2E_GPUS=N        N > 0: emulate N GPUs on the node (SLURM_FAKE_GPUS, no real device), run
#                     with `--config gpus=1` and check that exactly the training/decoding jobs
#                     got gres/gpu=1 (sbatch --gpus=1). Default 0 (CPU run, as in CI).
#
# CI-only settings are passed on the command line below, not put into the profile:
# --slurm-logdir (SLURM job logs into the results dir), --slurm-keep-successful-logs (so they
# can be checked) and --slurm-jobname-prefix (to find and cancel this run's jobs). (No --verbose:
# it would be passed on to the jobs, which then write their whole environment into their logs.)
set -euo pipefail

T0=$(date +%s)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"

E2E_TIMEOUT_S=${E2E_TIMEOUT_S:-1800}
KEEP_SLURM=${KEEP_SLURM:-0}
KEEP_RESULTS=${KEEP_RESULTS:-0}
SLURM_ACCOUNTING=${SLURM_ACCOUNTING:-slurmdbd}
E2E_GPUS=${E2E_GPUS:-0}
export SLURM_ACCOUNTING
export SLURM_FAKE_GPUS=$E2E_GPUS
JOB_PREFIX="wde2e$$"          # SLURM job names: <prefix>_<run uuid>

log() { echo "[slurm-e2e $(date +%T)] $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- python environment
# Run snakemake as `<interpreter> -m snakemake`: the SLURM plugin then submits every job as
# `<that interpreter> -m snakemake ...` (sys.executable) with `sbatch --export=ALL`, so jobs use
# the caller's environment. Its bin/ goes first on PATH for anything that calls `python` by name.
PYTHON=${PYTHON:-$(command -v python || command -v python3 || true)}
[ -n "$PYTHON" ] || die "no python on PATH (set PYTHON=...)"
PY=$("$PYTHON" -c 'import sys; print(sys.executable)')
export PATH="$(dirname "$PY"):$PATH"
# (from / : the rules' scripts import `wd` from the installed package, not from the checkout)
(cd / && "$PY" -c 'import wd, snakemake, pandas, yaml') 2>/dev/null \
  || die "$PY cannot import wd/snakemake/pandas/yaml: run \`pip install -e .\` in $REPO first"
if ! "$PY" -c 'import snakemake_executor_plugin_slurm' 2>/dev/null; then
  [ "${E2E_NO_PIP:-0}" = 1 ] && die "snakemake-executor-plugin-slurm is not installed for $PY"
  log "installing snakemake-executor-plugin-slurm for $PY"
  "$PY" -m pip install --quiet 'snakemake-executor-plugin-slurm>=2.8,<3'
fi
VERSIONS=$("$PY" -c 'import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" for p in
  ("snakemake", "snakemake-executor-plugin-slurm", "snakemake-executor-plugin-slurm-jobstep")))')
log "python: $PY ($VERSIONS)"

# ---------------------------------------------------------------- cleanup on any exit
RESULTS=""
PASSED=0
cleanup() {
  local rc=$? ids
  trap - EXIT INT TERM
  # jobs of this run still queued/running (snakemake killed by the timeout, or interrupted)
  if command -v squeue >/dev/null 2>&1; then
    ids=$(timeout 10 squeue -h -o '%i %j' 2>/dev/null | awk -v p="${JOB_PREFIX}_" 'index($2, p) == 1 {print $1}' || true)
    if [ -n "$ids" ]; then
      log "cancelling leftover SLURM jobs of this run: $(echo $ids)"
      # shellcheck disable=SC2086
      timeout 10 scancel $ids || true
      sleep 1
    fi
  fi
  if [ "$KEEP_SLURM" = 1 ]; then
    log "KEEP_SLURM=1: SLURM left running (stop it with: bash $HERE/stop_slurm.sh)"
  else
    bash "$HERE/stop_slurm.sh" || true
  fi
  if [ -n "$RESULTS" ] && [ -d "$RESULTS" ]; then
    if [ "$PASSED" = 1 ] && [ "$KEEP_RESULTS" != 1 ]; then
      rm -rf "$RESULTS"
    else
      log "results kept in $RESULTS"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- SLURM
T_SLURM=$(date +%s)
bash "$HERE/start_slurm.sh"
STARTUP_S=$(( $(date +%s) - T_SLURM ))

# ---------------------------------------------------------------- the pipeline through SLURM
RESULTS=$(mktemp -d "${TMPDIR:-/tmp}/wd-slurm-e2e.XXXXXX")
SM_LOG="$RESULTS/snakemake.log"
# One method, not micro.yaml's fourteen: every SLURM job costs 9-13 s here, whatever it does.
METHODS="$RESULTS/methods.yaml"
echo "methods: [wd]" >"$METHODS"
EXTRA=()
[ "$SLURM_ACCOUNTING" = none ] && EXTRA+=(--slurm-status-command squeue)
GPU_CONFIG=()
[ "$E2E_GPUS" -gt 0 ] && GPU_CONFIG+=(gpus=1)
# A time limit, made to happen at a known point: the teacher's training job is held after update
# 15 (wd/faults.py; the variables reach the jobs through sbatch --export=ALL), then SLURM signals
# it as the profile's `--signal=TERM@300` would (`scancel --signal=TERM`: every step of the job,
# not its batch shell). It must write a checkpoint and exit 75; snakemake resubmits it (the
# profile's `retries`) and the new job resumes at update 15. The hold happens once per run.
export WD_PAUSE_AT="train.update step=15 work=*/models/teacher/work"
export WD_PAUSE_FILE="$RESULTS/teacher.paused"
log "running the micro pipeline through SLURM (results in $RESULTS, log $SM_LOG, limit ${E2E_TIMEOUT_S}s)"
T_SM=$(date +%s)
set +e
timeout -s KILL "$E2E_TIMEOUT_S" \
  "$PY" -m snakemake --profile profiles/slurm all \
    --configfile tests/micro.yaml "$METHODS" --config "results_dir=$RESULTS" "${GPU_CONFIG[@]}" \
    --slurm-logdir "$RESULTS/slurm_logs" --slurm-keep-successful-logs \
    --slurm-jobname-prefix "$JOB_PREFIX" "${EXTRA[@]}" \
    >"$SM_LOG" 2>&1 &
SM_PID=$!
while [ ! -e "$WD_PAUSE_FILE" ] && kill -0 "$SM_PID" 2>/dev/null; do sleep 0.5; done
if [ -e "$WD_PAUSE_FILE" ]; then
  TEACHER_JOB=$(squeue -h -o '%i %j %k' |
    awk -v p="${JOB_PREFIX}_" 'index($2, p) == 1 && $3 ~ /^rule_train_teacher/ {print $1}')
  [ -n "$TEACHER_JOB" ] || { kill -9 "$SM_PID"; die "teacher held, but no train_teacher job in squeue"; }
  log "teacher held after update 15 in SLURM job $TEACHER_JOB: scancel --signal=TERM $TEACHER_JOB"
  scancel --signal=TERM "$TEACHER_JOB"
fi
wait "$SM_PID"
SM_RC=$?
set -e
PIPELINE_S=$(( $(date +%s) - T_SM ))
if [ "$SM_RC" != 0 ]; then
  grep -v '^\s*$' "$SM_LOG" | tail -60 >&2 || true
  [ "$SM_RC" = 137 ] && die "snakemake killed after ${E2E_TIMEOUT_S}s (E2E_TIMEOUT_S); log: $SM_LOG"
  die "snakemake exited $SM_RC after ${PIPELINE_S}s; log: $SM_LOG"
fi
log "snakemake finished in ${PIPELINE_S}s"

# ---------------------------------------------------------------- checks
"$PY" - "$RESULTS" "$METHODS" "$SM_LOG" "$PY" "$SLURM_ACCOUNTING" "$JOB_PREFIX" "$E2E_GPUS" "$STARTUP_S" "$PIPELINE_S" <<'EOF'
import collections
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

results, methods, sm_log, py, accounting, prefix, gpus, startup_s, pipeline_s = sys.argv[1:]
results = Path(results)
failures = []


def check(ok, msg):
    if not ok:
        failures.append(msg)
    return ok


# 1. the results table: the teacher row plus one row per student and method run
micro = {**yaml.safe_load(Path("tests/micro.yaml").read_text()),
         **yaml.safe_load(Path(methods).read_text())}
table_path = results / micro["experiment"] / "tables" / "results.csv"
check(table_path.is_file(), f"{table_path} missing")
if table_path.is_file():
    table = pd.read_csv(table_path)
    systems = list(zip(table.student, table.method))
    expected = [(s["name"], m) for s in micro["students"] for m in micro["methods"]]
    check(systems[:1] == [("teacher", "teacher")], f"first row is not the teacher: {systems[:1]}")
    check(sorted(systems[1:]) == sorted(expected),
          f"systems {sorted(systems[1:])} != expected {sorted(expected)}")
    check(table.bleu.notna().all() and table.chrf.notna().all(), "NaN BLEU/chrF in the table")

# 2. every job of the DAG was submitted with sbatch
log = Path(sm_log).read_text()
submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.*?)\)\.", log)
stats = re.search(r"Job stats:\n.*?\n.*?\n(.*?)\ntotal\s+(\d+)", log, re.S)
check(stats is not None, "no 'Job stats' table in the snakemake log")
# jobs snakemake ran itself: `all` (inputs only) and any `localrules:` (not counting the log
# of the stopped job that `show-failed-logs` copies in, where the job's own snakemake ran it)
own_lines = re.sub(r"^Logfile .*:\n={80}\n.*?^={80}$", "", log, flags=re.S | re.M)
local = collections.Counter(re.findall(r"^localrule (\w+):", own_lines, re.M))
remote = {}
if stats:
    counts = {line.split()[0]: int(line.split()[1]) for line in stats.group(1).splitlines()}
    remote = {r: n - local[r] for r, n in counts.items() if n > local[r]}
    # the teacher's job twice: stopped as at a time limit, then resubmitted
    remote["train_teacher"] = remote.get("train_teacher", 0) + 1
    check(len(submitted) == sum(remote.values()),
          f"{len(submitted)} jobs submitted to SLURM, the DAG has {sum(remote.values()) - 1} "
          f"non-local jobs and one retry ({remote}; local: {dict(local)})")
for _, slurm_id, job_log in submitted:
    check(Path(job_log).is_file() and Path(job_log).stat().st_size > 0,
          f"SLURM job {slurm_id}: job log {job_log} missing or empty")

# 3. SLURM's own view of those jobs
ids = [slurm_id for _, slurm_id, _ in submitted]
jobs = {}
if ids and accounting == "slurmdbd":
    out = subprocess.run(
        ["sacct", "-n", "-P", "-X", "-j", ",".join(ids),
         "-o", "JobID,JobName,State,Partition,Account,AllocCPUS,ReqMem,Elapsed,AllocTRES,Comment"],
        capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        jid, name, state, part, acct, cpus, mem, elapsed, tres, comment = line.split("|", 9)
        jobs[jid] = dict(name=name, state=state, partition=part, account=acct, cpus=cpus,
                         mem=mem, elapsed=elapsed, tres=tres, comment=comment)
elif ids:  # no accounting storage: slurmctld keeps finished jobs for MinJobAge (600 s)
    for jid in ids:
        out = subprocess.run(["scontrol", "-o", "show", "job", jid], capture_output=True,
                             text=True).stdout
        kv = dict(re.findall(r"(\w+)=(\S*)", out))
        jobs[jid] = dict(name=kv.get("JobName", ""), state=kv.get("JobState", "?"),
                         partition=kv.get("Partition", ""), account=kv.get("Account", ""),
                         cpus=kv.get("NumCPUs", ""), mem=kv.get("MinMemoryNode", ""),
                         elapsed=kv.get("RunTime", ""),
                         tres=kv.get("TRES", "") + " " + kv.get("TresPerJob", ""),
                         comment=kv.get("Comment", ""))

# the command each job ran (sbatch --wrap script): the caller's interpreter
if ids and accounting == "slurmdbd":  # AccountingStoreFlags=job_script (start_slurm.sh)
    out = subprocess.run(["sacct", "-B", "-j", ",".join(ids)], capture_output=True, text=True,
                         check=True).stdout
    scripts = dict(re.findall(r"^Batch Script for (\d+)\n-+\n(.*?)(?=^Batch Script for |\Z)",
                              out, re.S | re.M))
else:  # slurmctld keeps the scripts of finished jobs for MinJobAge
    scripts = {jid: subprocess.run(["scontrol", "write", "batch_script", jid, "-"],
                                   capture_output=True, text=True).stdout for jid in ids}
for jid in ids:
    check(f"{py} -m snakemake " in scripts.get(jid, ""),
          f"job {jid} does not run '{py} -m snakemake': {scripts.get(jid, '')[-300:]!r}")

profile = yaml.safe_load(Path("profiles/slurm/config.yaml").read_text())
defaults, per_rule = profile["default-resources"], profile.get("set-resources", {})
rules = collections.Counter()
# rules with `threads: config["threads"][...]` and `resources: gpu=config["gpus"]`
THREADS_KEY = {"train_teacher": "teacher", "train_student": "student", "kd_translate": "decode",
               "evaluate_system": "decode", "time_systems": "decode"}
threads = {**yaml.safe_load(Path("config.yaml").read_text()).get("threads", {}),
           **micro.get("threads", {})}
for jid in ids:
    job = jobs.get(jid)
    if not check(job is not None, f"SLURM does not know job {jid}"):
        continue
    rule = re.sub(r"_wildcards_.*$", "", job["comment"]).removeprefix("rule_")
    rules[rule] += 1
    if rule == "train_teacher" and rules[rule] == 1:  # the stopped one
        stopped = Path(next(path for _, i, path in submitted if i == jid)).read_text()
        check(job["state"] == "FAILED", f"stopped teacher job {jid} is {job['state']}")
        check(re.search(r"stopped by SIGTERM: training in \S+ after update 15 of 30, "
                        r"checkpoint_00000015.pt written; exit status 75", stopped) is not None,
              f"stopped teacher job {jid}: no stop message in its log")
        continue
    check(job["state"] == "COMPLETED", f"job {jid} ({rule}) is {job['state']}")
    check(job["name"].startswith(f"{prefix}_"), f"job {jid}: name {job['name']} lacks {prefix}_")
    check(job["partition"] == defaults["slurm_partition"], f"job {jid}: partition {job['partition']}")
    check(job["account"] == defaults["slurm_account"], f"job {jid}: account {job['account']}")
    want_mem = per_rule.get(rule, {}).get("mem_mb", defaults["mem_mb"])
    got_mem = re.match(r"\d+", job["mem"])
    check(got_mem is not None and int(got_mem.group()) == want_mem,
          f"job {jid} ({rule}): memory {job['mem']}, profile says {want_mem} MB")
    want_cpus = per_rule.get(rule, {}).get("cpus_per_task", "threads")
    if want_cpus == "threads":
        want_cpus = threads[THREADS_KEY[rule]] if rule in THREADS_KEY else 1
    check(job["cpus"] == str(want_cpus), f"job {jid} ({rule}): {job['cpus']} CPUs, want {want_cpus}")
    has_gpu = "gres/gpu=1" in job["tres"] or "gres:gpu:1" in job["tres"]
    want_gpu = int(gpus) > 0 and rule in THREADS_KEY
    check(has_gpu == want_gpu, f"job {jid} ({rule}): TRES {job['tres']!r}, GPU expected: {want_gpu}")
if stats:
    check(dict(rules) == remote, f"rules seen by SLURM {dict(rules)} != DAG {remote}")
for rule in ["train_teacher", "kd_translate", "train_student", "evaluate_system", "time_systems"]:
    check(rules[rule] > 0, f"no {rule} job went through SLURM")
teacher_log = (results / micro["experiment"] / "logs/train/teacher.log").read_text()
check(re.search(r"resumed from \S+checkpoint_00000015\.pt at step 15", teacher_log) is not None,
      "the resubmitted teacher job did not resume from checkpoint_00000015.pt")

if failures:
    print("CHECKS FAILED:", *failures, sep="\n  ", file=sys.stderr)
    sys.exit(1)

# summary
print(f"""
SLURM end-to-end test PASSED
  results table : {table_path} ({len(table)} rows: teacher + {len(table) - 1} students)
  SLURM jobs    : {len(ids)} (ids {min(ids, key=int)}-{max(ids, key=int)}), all COMPLETED but
                  the stopped teacher job (FAILED, resubmitted),
                  partition {defaults['slurm_partition']}, account {defaults['slurm_account']}
  per rule      : {', '.join(f'{r} {n}' for r, n in sorted(rules.items()))}
  time limit    : teacher stopped by SIGTERM after update 15 (exit 75), resubmitted, resumed
  run locally   : {', '.join(f'{r} {n}' for r, n in sorted(local.items()))}
  GPUs          : {f"gres/gpu=1 on every training/decoding job ({gpus} emulated)" if int(gpus) else "none requested (gpus: 0)"}
  interpreter   : {py}
  SLURM start-up: {startup_s}s
  pipeline      : {pipeline_s}s (snakemake --profile profiles/slurm, micro config)""")
EOF
PASSED=1
log "total elapsed $(( $(date +%s) - T0 ))s (SLURM start-up ${STARTUP_S}s, pipeline ${PIPELINE_S}s)"
