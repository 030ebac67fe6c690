#!/usr/bin/env bash
# start_slurm.sh - bring up a real single-node SLURM cluster for the SLURM end-to-end test
# (tests/cluster/run_slurm_e2e.sh) on a Debian 12 machine without systemd (container /
# firecracker VM), as root. Adapted from a single-node recipe tested on this kind of machine.
#
# Idempotent: safe to run again (daemons up, stopped, or killed with -9); installs only what is
# missing, rewrites the configs, (re)starts only daemons that are not running or whose config
# changed, and returns once the node is "idle" and accepts jobs.
#
# Daemons are started in the background and tracked by PID files:
#   munged     /run/munge/munged.pid
#   mariadbd   /run/mysqld/mysqld.pid       (SLURM_ACCOUNTING=slurmdbd only)
#   slurmdbd   /run/slurm/slurmdbd.pid      (SLURM_ACCOUNTING=slurmdbd only)
#   slurmctld  /run/slurm/slurmctld.pid
#   slurmd     /run/slurm/slurmd.pid
# stop_slurm.sh (next to this file) stops exactly those PIDs.
#
# Accounting mode: slurmdbd (MariaDB + slurmdbd) is the default, deliberately.
#   - It is what real clusters run, so the project's profile (profiles/slurm) is tested as users
#     get it: snakemake-executor-plugin-slurm's default status command is `sacct`, and it validates
#     `slurm_account` with `sacctmgr`. Both only work with slurmdbd.
#   - The light mode (none) needs `slurm-status-command: squeue`, a CI-only setting, and is
#     fragile: without that setting the workflow never finishes (sacct fails silently and the
#     plugin keeps waiting), and a job not polled within MinJobAge vanishes from squeue and is
#     waited on forever.
#   - sacct lets the test prove afterwards that each job ran through SLURM (state, partition,
#     account, the rule name the plugin puts into the job comment, requested memory/CPUs).
#   - The price is ~3 s of start-up and a MariaDB install (recipe timings: 12.2 s vs 9.2 s from a
#     purged machine) - small next to the pipeline itself.
#
# Knobs (environment variables):
#   SLURM_ACCOUNTING  slurmdbd (default) | none (then snakemake needs --slurm-status-command squeue)
#   SLURM_PARTITION   partition name (default: main; profiles/slurm uses main)
#   SLURM_CLUSTER     ClusterName (default: ci)
#   SLURM_ACCOUNT     account created in slurmdbd mode (default: ci; profiles/slurm uses ci)
#   SLURM_USERS       users added to that account (default: root)
#   SLURM_FAKE_GPUS   number of emulated GPUs (gres/gpu) on the node (default 0)
#   SLURM_WAIT_S      seconds to wait for each daemon (default 60)
set -euo pipefail

SLURM_ACCOUNTING=${SLURM_ACCOUNTING:-slurmdbd}
SLURM_PARTITION=${SLURM_PARTITION:-main}
SLURM_CLUSTER=${SLURM_CLUSTER:-ci}
SLURM_ACCOUNT=${SLURM_ACCOUNT:-ci}
SLURM_USERS=${SLURM_USERS:-root}
SLURM_FAKE_GPUS=${SLURM_FAKE_GPUS:-0}
SLURM_WAIT_S=${SLURM_WAIT_S:-60}

log() { echo "[start_slurm $(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
case "$SLURM_ACCOUNTING" in slurmdbd|none) ;; *) die "SLURM_ACCOUNTING must be slurmdbd or none";; esac
T_START=$(date +%s)

# ---------------------------------------------------------------- packages
PKGS="slurmctld slurmd slurm-client munge"
[ "$SLURM_ACCOUNTING" = slurmdbd ] && PKGS="$PKGS slurmdbd mariadb-server"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  # No systemd here: keep postinst scripts from trying to start services.
  # (Only add a policy-rc.d if none exists; never remove one we didn't write.)
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; added_policy=1
  fi
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  [ "$added_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# ---------------------------------------------------------------- helpers
# alive PID: process exists and is not a zombie (a killed daemon whose parent
# is init can linger as a zombie for a while and still answers kill -0)
alive() {
  local st
  st=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
# pid_alive PIDFILE COMM: true if PIDFILE names a live process whose comm is COMM
pid_alive() {
  local f=$1 comm=$2 pid
  [ -s "$f" ] || return 1
  pid=$(tr -dc 0-9 < "$f")
  [ -n "$pid" ] && alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ]
}
# stop_pid PIDFILE COMM: stop that process (only if it is really COMM)
stop_pid() {
  local f=$1 comm=$2 pid i
  if pid_alive "$f" "$comm"; then
    pid=$(tr -dc 0-9 < "$f")
    log "stopping $comm (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 $((SLURM_WAIT_S * 5))); do alive "$pid" || break; sleep 0.2; done
    alive "$pid" && { log "$comm did not stop, sending KILL"; kill -9 "$pid" 2>/dev/null || true; sleep 0.5; }
  fi
  rm -f "$f"
}
# wait_for DESC CMD...: retry CMD (each try cut off after 10 s) until it
# succeeds or SLURM_WAIT_S seconds have passed
wait_for() {
  local desc=$1 deadline=$(( $(date +%s) + SLURM_WAIT_S )); shift
  while :; do
    if declare -F "$1" >/dev/null; then "$@" >/dev/null 2>&1 && return 0
    elif timeout 10 "$@" >/dev/null 2>&1; then return 0; fi
    [ "$(date +%s)" -ge "$deadline" ] && die "timed out after ${SLURM_WAIT_S}s waiting for $desc"
    sleep 0.25
  done
}
# install_if_changed SRC DST MODE OWNER: returns 0 if DST changed
install_if_changed() {
  local src=$1 dst=$2 mode=$3 owner=$4
  if [ -f "$dst" ] && cmp -s "$src" "$dst"; then rm -f "$src"; return 1; fi
  install -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$src" "$dst"; rm -f "$src"
  return 0
}

# ---------------------------------------------------------------- directories
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm \
         /run/munge /var/log/munge /var/lib/munge
chown slurm:slurm /var/spool/slurmctld /var/log/slurm /run/slurm
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 755 /run/munge

# ---------------------------------------------------------------- node facts
NODE=$(hostname -s)
# slurmd -C prints e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
HW=$(slurmd -C | head -1)
hwval() { echo "$HW" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
CPUS=$(hwval CPUs); BOARDS=$(hwval Boards); SPB=$(hwval SocketsPerBoard)
CPS=$(hwval CoresPerSocket); TPC=$(hwval ThreadsPerCore); MEM=$(hwval RealMemory)
REALMEM=$(( MEM * 90 / 100 ))   # leave ~10 % headroom, slurmd rejects > real

# ---------------------------------------------------------------- configs
GRES_NODE=""; GRES_TYPES=""
if [ "$SLURM_FAKE_GPUS" -gt 0 ]; then
  # gres/gpu needs one character device per GPU or slurmd reports count 0 and
  # the node goes INVAL. Device nodes that alias /dev/null (1,3) are enough.
  mkdir -p /var/spool/slurmd/fakegpu
  for i in $(seq 0 $((SLURM_FAKE_GPUS - 1))); do
    [ -c /var/spool/slurmd/fakegpu/gpu$i ] || mknod /var/spool/slurmd/fakegpu/gpu$i c 1 3
  done
  GRES_NODE=" Gres=gpu:$SLURM_FAKE_GPUS"
  GRES_TYPES="GresTypes=gpu"
  # With slurmdbd also account gres/gpu as a TRES (sacct shows gres/gpu=N per job). Without it
  # slurmctld refuses that ("fatal: slurmdbd is required to run with TRES gres/gpu"); scontrol's
  # TresPerJob still shows the request.
  [ "$SLURM_ACCOUNTING" = slurmdbd ] && GRES_TYPES=$'GresTypes=gpu\nAccountingStorageTRES=gres/gpu'
  echo "NodeName=$NODE Name=gpu File=/var/spool/slurmd/fakegpu/gpu[0-$((SLURM_FAKE_GPUS - 1))]" > /etc/slurm/gres.conf.new
else
  : > /etc/slurm/gres.conf.new
fi
GRES_CHANGED=0
install_if_changed /etc/slurm/gres.conf.new /etc/slurm/gres.conf 644 root:root && GRES_CHANGED=1

if [ "$SLURM_ACCOUNTING" = slurmdbd ]; then
  # AccountingStoreFlags: keep the job comment (the plugin puts the rule name there:
  # "rule_<name>_wildcards_...", shown by `sacct -o Comment`) and the batch script (the command
  # the job ran, `sacct -B -j <id>`) in the database, for run_slurm_e2e.sh's checks.
  ACCT=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\nAccountingStoragePort=6819\nAccountingStoreFlags=job_comment,job_script\nJobAcctGatherType=jobacct_gather/linux\nJobAcctGatherFrequency=30'
else
  ACCT=$'AccountingStorageType=accounting_storage/none\nJobAcctGatherType=jobacct_gather/none'
fi

cat > /etc/slurm/slurm.conf.new <<EOF
# generated by tests/cluster/start_slurm.sh
ClusterName=$SLURM_CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
MailProg=/bin/true
# no cgroup support assumed: memory/CPU requests are scheduled, not enforced
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without it a job with no --mem gets the whole node's memory and jobs run one at a time
DefMemPerCPU=1000
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
# keep finished jobs visible to squeue for 10 min (needed for squeue-based
# status checks; the plugin only uses squeue if MinJobAge >= 3x its check interval)
MinJobAge=600
JobCompType=jobcomp/none
$ACCT
$GRES_TYPES
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS Boards=$BOARDS SocketsPerBoard=$SPB CoresPerSocket=$CPS ThreadsPerCore=$TPC RealMemory=$REALMEM$GRES_NODE State=UNKNOWN
PartitionName=$SLURM_PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
SLURM_CHANGED=0
install_if_changed /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf 644 root:root && SLURM_CHANGED=1
[ "$GRES_CHANGED" = 1 ] && SLURM_CHANGED=1

DBD_CHANGED=0
if [ "$SLURM_ACCOUNTING" = slurmdbd ]; then
  # The database password is a fixed, CI-only value (file mode 600); the database listens on
  # 127.0.0.1 / the local socket only.
  cat > /etc/slurm/slurmdbd.conf.new <<'EOF'
# generated by tests/cluster/start_slurm.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
DebugLevel=info
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurm/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmdb
StorageLoc=slurm_acct_db
EOF
  install_if_changed /etc/slurm/slurmdbd.conf.new /etc/slurm/slurmdbd.conf 600 slurm:slurm && DBD_CHANGED=1
fi

# ---------------------------------------------------------------- munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating munge key"
  mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
if ! pid_alive /run/munge/munged.pid munged; then
  rm -f /run/munge/munged.pid
  log "starting munged"
  # --force: take over a stale socket left by a killed munged
  runuser -u munge -- /usr/sbin/munged --force
fi
wait_for "munge" sh -c 'munge -n | unmunge'

# ---------------------------------------------------------------- mariadb + slurmdbd
if [ "$SLURM_ACCOUNTING" = slurmdbd ]; then
  mkdir -p /run/mysqld; chown mysql:mysql /run/mysqld
  if ! pid_alive /run/mysqld/mysqld.pid mariadbd; then
    rm -f /run/mysqld/mysqld.pid
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    log "starting mariadbd"
    setsid /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
      --socket=/run/mysqld/mysqld.sock --bind-address=127.0.0.1 \
      --innodb-lock-wait-timeout=900 \
      >>/var/log/slurm/mariadbd.log 2>&1 </dev/null &
  fi
  wait_for "mariadbd" mariadb-admin --socket=/run/mysqld/mysqld.sock ping
  wait_for "mariadbd pid file" pid_alive /run/mysqld/mysqld.pid mariadbd
  mariadb --socket=/run/mysqld/mysqld.sock -e "
    CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmdb';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
    FLUSH PRIVILEGES;"
  [ "$DBD_CHANGED" = 1 ] && stop_pid /run/slurm/slurmdbd.pid slurmdbd
  if ! pid_alive /run/slurm/slurmdbd.pid slurmdbd; then
    rm -f /run/slurm/slurmdbd.pid
    log "starting slurmdbd"
    /usr/sbin/slurmdbd
  fi
  # slurmdbd forks before it listens; slurmctld must not start before it
  # answers (on a first start without state files slurmctld dies with
  # "we have no TRES from it" if the database is unreachable).
  wait_for "slurmdbd (see /var/log/slurm/slurmdbd.log)" sacctmgr -n list cluster
fi

# ---------------------------------------------------------------- slurmctld + slurmd
if [ "$SLURM_CHANGED" = 1 ]; then
  # topology / accounting-type / gres changes need a restart, not reconfigure
  stop_pid /run/slurm/slurmd.pid slurmd
  stop_pid /run/slurm/slurmctld.pid slurmctld
fi
if ! pid_alive /run/slurm/slurmctld.pid slurmctld; then
  rm -f /run/slurm/slurmctld.pid
  log "starting slurmctld"
  /usr/sbin/slurmctld
fi
ctld_up() { timeout 10 scontrol ping 2>/dev/null | grep -q UP; }
deadline=$(( $(date +%s) + SLURM_WAIT_S )); t_ctld=$(date +%s)
until ctld_up; do
  # the PID file appears only once slurmctld has daemonized: allow 3 s for it
  if ! pid_alive /run/slurm/slurmctld.pid slurmctld && [ $(( $(date +%s) - t_ctld )) -ge 3 ]; then
    tail -20 /var/log/slurm/slurmctld.log >&2; die "slurmctld died (log above)"
  fi
  [ "$(date +%s)" -ge "$deadline" ] && { tail -20 /var/log/slurm/slurmctld.log >&2; die "slurmctld not answering"; }
  sleep 0.25
done
if ! pid_alive /run/slurm/slurmd.pid slurmd; then
  rm -f /run/slurm/slurmd.pid
  log "starting slurmd"
  /usr/sbin/slurmd
fi

if [ "$SLURM_ACCOUNTING" = slurmdbd ]; then
  # slurmctld registers the cluster itself; wait for that, then add account/users
  wait_for "cluster registration in slurmdbd" \
    sh -c "sacctmgr -n -P list cluster format=cluster | grep -qx '$SLURM_CLUSTER'"
  if ! sacctmgr -n -P list account "$SLURM_ACCOUNT" format=account | grep -qx "$SLURM_ACCOUNT"; then
    sacctmgr -i add account "$SLURM_ACCOUNT" Description=ci Organization=ci >/dev/null
  fi
  for u in $SLURM_USERS; do
    if ! sacctmgr -n -P list assoc user="$u" account="$SLURM_ACCOUNT" format=user | grep -qx "$u"; then
      sacctmgr -i add user "$u" DefaultAccount="$SLURM_ACCOUNT" Account="$SLURM_ACCOUNT" >/dev/null
    fi
  done
fi

# ---------------------------------------------------------------- wait for idle node
node_state() { timeout 10 sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -1; }
deadline=$(( $(date +%s) + SLURM_WAIT_S )); i=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  st=$(node_state); i=$((i + 1))
  case "$st" in
    idle|mixed|allocated) break ;;
    *drain*|inval*|down*|*fail*)
      # left over from an earlier config; the config is correct now
      if [ $((i % 10)) = 1 ]; then
        timeout 10 scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
      fi ;;
  esac
  sleep 0.5
done
st=$(node_state)
case "$st" in
  idle|mixed|allocated) ;;
  *) scontrol show node "$NODE" >&2 || true
     tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
     die "node $NODE is '$st', not idle" ;;
esac
log "SLURM ready: node $NODE ($CPUS CPUs, ${REALMEM} MB, gpus=$SLURM_FAKE_GPUS) is $st," \
    "partition $SLURM_PARTITION, accounting=$SLURM_ACCOUNTING, took $(( $(date +%s) - T_START ))s"
