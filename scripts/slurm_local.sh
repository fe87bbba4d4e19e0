#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for nnx's launcher tests and for trying `--launcher slurm`.
#
#   scripts/slurm_local.sh start    # munged + slurmctld + slurmd; returns once `sinfo` shows the node idle
#   scripts/slurm_local.sh stop     # stops the three daemons by their pid files
#   scripts/slurm_local.sh status
#
# Needs Debian's packages: apt-get update && apt-get install -y slurmctld slurmd slurm-client munge
# (Slurm 22.05), and root (SlurmUser=root). Everything the daemons write (state, spool, pid and log
# files, slurm.conf itself) goes into one folder, $NNX_SLURM_DIR (default /tmp/nnx-slurm); the
# commands find the configuration through /etc/slurm/slurm.conf, a link to it, since sbatch, squeue and
# scontrol read that path (SLURM_CONF is exported too, for shells that source this folder's env file).
set -euo pipefail

DIR="${NNX_SLURM_DIR:-/tmp/nnx-slurm}"
CONF="$DIR/slurm.conf"
HOST="$(hostname -s)"

stop_pid() {  # a daemon by its pid file, waiting until it is gone
  local file="$1"
  [ -f "$file" ] || return 0
  local pid; pid="$(cat "$file" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$file"
}

start() {
  for tool in munged slurmctld slurmd sinfo; do
    command -v "$tool" >/dev/null || { echo "slurm_local.sh: $tool not found; apt-get install -y slurmctld slurmd slurm-client munge" >&2; exit 2; }
  done
  if [ -f "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
    echo "slurm_local.sh: already running (slurm.conf: $CONF)"; return 0
  fi
  mkdir -p "$DIR/state" "$DIR/spool" /etc/slurm /run/munge /var/log/munge /var/lib/munge
  # munge: a key owned by munge, mode 400; munged --force accepts this machine's permissions.
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  fi
  chown munge:munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  if ! pgrep -u munge -x munged >/dev/null 2>&1; then
    if id munge >/dev/null 2>&1; then su -s /bin/sh munge -c "munged --force" || munged --force; else munged --force; fi
  fi
  cat > "$CONF" <<EOF
ClusterName=local
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
# SIGTERM to SIGKILL: 10 s (default 30): a cancelled task has that long to finish its epoch.
KillWait=10
NodeName=$HOST CPUs=$(nproc) RealMemory=20000 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  ln -sf "$CONF" /etc/slurm/slurm.conf
  echo "export SLURM_CONF=$CONF" > "$DIR/env"
  slurmctld -f "$CONF"
  slurmd -f "$CONF"
  for _ in $(seq 100); do
    if sinfo -h -o "%t" 2>/dev/null | grep -qx "idle"; then
      echo "slurm_local.sh: node $HOST idle (slurm.conf: $CONF)"; return 0
    fi
    sleep 0.2
  done
  echo "slurm_local.sh: the node did not become idle in 20 s; see $DIR/slurmctld.log and $DIR/slurmd.log" >&2
  sinfo >&2 || true
  exit 1
}

stop() {
  stop_pid "$DIR/slurmd.pid"
  stop_pid "$DIR/slurmctld.pid"
  # munged is left alone only if this script did not start it; it is cheap to stop either way.
  local munge_pid=/run/munge/munged.pid
  stop_pid "$munge_pid"
  echo "slurm_local.sh: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: scripts/slurm_local.sh start|stop|status" >&2; exit 2 ;;
esac
