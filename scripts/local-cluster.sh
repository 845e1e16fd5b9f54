#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for trying xling's cluster path (the corpus stage as
# Slurm job arrays, `xling pretrain` under sbatch + srun torchrun) on a workstation or in a container.
#
#   scripts/local-cluster.sh up       install slurm-wlm + munge if missing (apt-get; needs root), write
#                                     /etc/slurm/slurm.conf for this host, start munged, slurmctld, slurmd
#                                     and wait until the node is idle
#   scripts/local-cluster.sh status   the daemons' pids, `sinfo` and `squeue`
#   scripts/local-cluster.sh down     cancel this cluster's jobs, stop slurmd, slurmctld, munged
#
# One partition, `cpu` (the name recipes/corpus-cc100-slurm.yaml uses), one node: this host, with
# the CPUs and memory `slurmd -C` reports (XLING_SLURM_CPUS / XLING_SLURM_MEM_MB override them).
# The config needs no cgroups and no systemd (proctrack/linuxproc, task/none, no accounting
# database), so it works in an unprivileged-cgroup container; the price is that Slurm does not
# enforce memory limits or pin CPUs. Jobs keep the nice value of the shell that submitted them
# (PropagatePrioProcess), so `nice -n 15 sbatch …` stays out of the way of other work.
# Exit status of `up`: 0 when the node is idle; 1 when it could not be brought up (the reason is
# printed on stderr; the tests print it as their skip reason).
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MARK="# written by xling scripts/local-cluster.sh"
RUN=/run/xling-slurm                   # pid files
SPOOL=/var/spool/xling-slurm           # slurmctld state, slurmd spool
LOGS=/var/log/xling-slurm
PARTITION=cpu

die() { echo "local-cluster: $*" >&2; exit 1; }

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null; then
        return
    fi
    [[ $(id -u) -eq 0 ]] || die "slurm-wlm/munge are not installed and installing them needs root (apt-get install slurm-wlm munge)"
    command -v apt-get >/dev/null || die "slurm-wlm/munge are not installed and there is no apt-get here (install Slurm and MUNGE with your package manager)"
    echo "local-cluster: installing slurm-wlm and munge (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null || die "apt-get install slurm-wlm munge failed"
}

write_conf() {
    local host cpus mem probe
    host=$(hostname -s)
    probe=$(slurmd -C 2>/dev/null | head -1) || die "slurmd -C failed: cannot read this host's CPUs and memory"
    cpus=${XLING_SLURM_CPUS:-$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$probe")}
    mem=${XLING_SLURM_MEM_MB:-$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$probe")}
    [[ -n $cpus && -n $mem ]] || die "could not parse CPUs/RealMemory from 'slurmd -C': $probe"
    if [[ -f $CONF ]] && ! head -1 "$CONF" | grep -qF "$MARK"; then
        die "$CONF exists and was not written by this script: not overwriting a real cluster's configuration"
    fi
    mkdir -p "$CONF_DIR" "$RUN" "$SPOOL/ctld" "$SPOOL/d" "$LOGS"
    chown slurm:slurm "$SPOOL/ctld" "$LOGS" "$RUN"
    cat >"$CONF" <<CONF_EOF
$MARK (single node, no cgroups)
ClusterName=xling-local
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=slurm
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# no cgroups: processes are tracked by parent pid, tasks are not bound to CPUs
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
# CPUs are the consumable resource: a 2-CPU node runs two 1-CPU array tasks at once
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
PropagatePrioProcess=1
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
MaxArraySize=1001
# a job whose afterok dependency failed or was cancelled is cancelled too (it could never start)
SchedulerParameters=kill_invalid_depend
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF_EOF
    # slurmd refuses to start without a cgroup.conf on some builds even when no cgroup plugin is used
    [[ -f $CONF_DIR/cgroup.conf ]] || echo "$MARK" >"$CONF_DIR/cgroup.conf"
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        return  # a munged is already answering (ours or the system's)
    fi
    [[ -s /etc/munge/munge.key ]] || { mungekey --create --keyfile=/etc/munge/munge.key && chown munge:munge /etc/munge/munge.key; }
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- munged --pid-file="/run/munge/munged.pid" \
        || die "munged did not start (see /var/log/munge/munged.log)"
    for _ in $(seq 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return; sleep 0.25; done
    die "munged started but does not answer (munge -n | unmunge)"
}

node_state() { sinfo -h -N -o %T 2>/dev/null | head -1; }

up() {
    local before=""
    install_packages
    [[ -f $CONF ]] && before=$(md5sum <"$CONF")
    write_conf
    start_munge
    # already running with another configuration (e.g. XLING_SLURM_CPUS changed): reload it
    if pid_alive "$RUN/slurmctld.pid" && [[ $before != "$(md5sum <"$CONF")" ]]; then scontrol reconfigure; fi
    pid_alive "$RUN/slurmctld.pid" || slurmctld || die "slurmctld did not start (see $LOGS/slurmctld.log)"
    pid_alive "$RUN/slurmd.pid" || slurmd || die "slurmd did not start (see $LOGS/slurmd.log)"
    local state=""
    for _ in $(seq 60); do
        state=$(node_state)
        case $state in
            idle | mixed | allocated) echo "local-cluster: up ($(hostname -s), partition $PARTITION, $(sinfo -h -o %c) CPUs, node $state)"; return 0 ;;
            down* | drain*) scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
        esac
        sleep 0.5
    done
    die "the node did not become idle within 30 s (state: ${state:-unknown}; see $LOGS/slurmd.log and $LOGS/slurmctld.log)"
}

stop_pidfile() {  # stop_pidfile NAME FILE: TERM, then wait up to 10 s
    local pid
    pid_alive "$2" || return 0
    pid=$(cat "$2")
    kill "$pid"
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || { echo "local-cluster: stopped $1 ($pid)"; return 0; }; sleep 0.25; done
    echo "local-cluster: $1 ($pid) did not stop after 10 s" >&2
    return 1
}

down() {
    if pid_alive "$RUN/slurmctld.pid"; then
        scancel --partition="$PARTITION" 2>/dev/null || true
        for _ in $(seq 20); do [[ -z $(squeue -h 2>/dev/null) ]] && break; sleep 0.5; done
    fi
    stop_pidfile slurmd "$RUN/slurmd.pid"
    stop_pidfile slurmctld "$RUN/slurmctld.pid"
    stop_pidfile munged /run/munge/munged.pid
}

status() {
    local name file rc=0
    for name in munged slurmctld slurmd; do
        file=$RUN/$name.pid
        [[ $name == munged ]] && file=/run/munge/munged.pid
        if pid_alive "$file"; then echo "$name: running ($(cat "$file"))"; else echo "$name: not running"; rc=3; fi
    done
    if [[ $rc -eq 0 ]]; then sinfo; squeue; fi
    return $rc
}

case ${1:-} in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
