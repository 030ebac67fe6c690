#!/usr/bin/env bash
# stop_slurm.sh - stop the daemons started by start_slurm.sh (next to this file), by the PIDs in
# their PID files, each checked against the expected process name so that a stale PID file never
# kills an unrelated process. Idempotent: nothing running -> nothing to do, exit 0.
# Adapted from a single-node recipe tested on this kind of machine.
#
# It does not cancel jobs: slurmstepd processes of still-running jobs are not its PIDs.
# run_slurm_e2e.sh scancels its own jobs before calling it.
set -uo pipefail
WAIT_S=${SLURM_WAIT_S:-60}
log() { echo "[stop_slurm $(date +%T)] $*" >&2; }
# alive PID: exists and is not a zombie (killed daemons reparented to init may
# linger as zombies and still answer kill -0)
alive() {
  local st
  st=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
stop_pid() {
  local f=$1 comm=$2 pid i
  [ -s "$f" ] || return 0
  pid=$(tr -dc 0-9 < "$f")
  if [ -n "$pid" ] && alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ]; then
    log "stopping $comm (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 $((WAIT_S * 5))); do alive "$pid" || break; sleep 0.2; done
    if alive "$pid"; then log "$comm ignored TERM, sending KILL"; kill -9 "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}
# reverse start order: compute daemons first, then controller, accounting, database, auth
stop_pid /run/slurm/slurmd.pid     slurmd
stop_pid /run/slurm/slurmctld.pid  slurmctld
stop_pid /run/slurm/slurmdbd.pid   slurmdbd
stop_pid /run/mysqld/mysqld.pid    mariadbd
stop_pid /run/munge/munged.pid     munged
exit 0
