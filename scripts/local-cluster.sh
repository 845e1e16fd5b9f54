#!/usr/bin/env bash
# Local clusters on this machine for trying xling's cluster path on a workstation or in a container:
# a single-node Slurm (the corpus stage as Slurm job arrays, `xling pretrain` under sbatch + srun
# torchrun) and a single-node Ray head (the corpus stage through datatrove's RayPipelineExecutor).
#
#   scripts/local-cluster.sh up [slurm]     install slurm-wlm + munge if missing (apt-get; needs root), write
#                                           /etc/slurm/slurm.conf for this host, start munged, slurmctld, slurmd
#                                           and wait until the node is idle
#   scripts/local-cluster.sh up ray         start `ray start --head --block` (under nice -n 15) on port 6390 and
#                                           wait until the raylet registered; prints the address to use
#   scripts/local-cluster.sh status [slurm|ray]   the daemons' pids, `sinfo` and `squeue` / the Ray head's pid
#   scripts/local-cluster.sh down [slurm|ray|all] stop what `up` started (default: slurm)
#
# Slurm: one partition, `cpu` (the name recipes/corpus-cc100-slurm.yaml uses), one node: this host, with
# the CPUs and memory `slurmd -C` reports (XLING_SLURM_CPUS / XLING_SLURM_MEM_MB override them).
# The config needs no cgroups and no systemd (proctrack/linuxproc, task/none, no accounting
# database), so it works in an unprivileged-cgroup container; the price is that Slurm does not
# enforce memory limits or pin CPUs. Jobs keep the nice value of the shell that submitted them
# (PropagatePrioProcess), so `nice -n 15 sbatch …` stays out of the way of other work.
#
# Ray: needs the `ray` package in the Python that runs xling (pip install 'xling[cluster]'; XLING_PYTHON
# names that interpreter, default .venv/bin/python, then python3). The head and every worker it starts
# inherit this shell's environment (PYTHONPATH included: the workers unpickle xling's pipeline steps)
# and run at nice 15. XLING_RAY_PORT (6390; the agents and the Ray client server get the next five
# ports), XLING_RAY_CPUS (all), XLING_RAY_TMP (/tmp/xling-ray: Ray's --temp-dir, logs under
# session_latest/logs), XLING_RAY_START_TIMEOUT_S (600): every start-up wait of Ray is raised to it,
# see ray_up below.
#
# Exit status of `up`: 0 when the cluster is up; 1 when it could not be brought up (the reason is
# printed on stderr; the tests print it as their skip reason).
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MARK="# written by xling scripts/local-cluster.sh"
RUN=/run/xling-slurm                   # pid files
SPOOL=/var/spool/xling-slurm           # slurmctld state, slurmd spool
LOGS=/var/log/xling-slurm
PARTITION=cpu
REPO=$(cd "$(dirname "$0")/.." && pwd)

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

slurm_up() {
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

slurm_down() {
    if pid_alive "$RUN/slurmctld.pid"; then
        scancel --partition="$PARTITION" 2>/dev/null || true
        for _ in $(seq 20); do [[ -z $(squeue -h 2>/dev/null) ]] && break; sleep 0.5; done
    fi
    stop_pidfile slurmd "$RUN/slurmd.pid"
    stop_pidfile slurmctld "$RUN/slurmctld.pid"
    stop_pidfile munged /run/munge/munged.pid
}

slurm_status() {
    local name file rc=0
    for name in munged slurmctld slurmd; do
        file=$RUN/$name.pid
        [[ $name == munged ]] && file=/run/munge/munged.pid
        if pid_alive "$file"; then echo "$name: running ($(cat "$file"))"; else echo "$name: not running"; rc=3; fi
    done
    if [[ $rc -eq 0 ]]; then sinfo; squeue; fi
    return $rc
}

# -------------------------------------------------------------------------------------------- ray
RAY_TMP=${XLING_RAY_TMP:-/tmp/xling-ray}
RAY_PORT=${XLING_RAY_PORT:-6390}
RAY_CPUS=${XLING_RAY_CPUS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}  # nproc would honour OMP_NUM_THREADS
RAY_TIMEOUT=${XLING_RAY_START_TIMEOUT_S:-600}
RAY_PID=$RAY_TMP/head.pid   # the `ray start --block` process, leader of its own session (setsid)
RAY_LOG=$RAY_TMP/head.log

ray_python() {
    if [[ -n ${XLING_PYTHON:-} ]]; then echo "$XLING_PYTHON"
    elif [[ -x $REPO/.venv/bin/python ]]; then echo "$REPO/.venv/bin/python"
    else command -v python3; fi
}

# every process of the head's session: ray start, GCS, raylet, agents, workers and what they fork (none of
# them calls setsid; the raylet gives each worker its own process group, not its own session)
ray_session_pids() { ps -e -o pid=,sid= | awk -v sid="$1" '$2 == sid { print $1 }'; }

ray_reason() {  # the telling lines: ray start's own error, then the last error of each daemon's log
    local logs=$RAY_TMP/session_latest/logs f line reason
    reason=$(grep -E '^[A-Za-z.]*(Exception|Error)\b|ERROR|timed out' "$RAY_LOG" 2>/dev/null | tail -2 | tr '\n' ' ')
    for f in raylet.out gcs_server.out dashboard_agent.log runtime_env_agent.log dashboard.log raylet.err gcs_server.err; do
        [[ -f $logs/$f ]] || continue
        # glog lines "[time E|F|C pid tid] …" (C: a failed RAY_CHECK, with Ray's "you have likely discovered
        # a bug" boilerplate cut out); Python logs: ERROR
        line=$(grep -E '^\[[^]]* [EFC] [0-9]+ [0-9]+\]|ERROR|Timed out|Traceback' "$logs/$f" | tail -1 \
            | sed 's/An unexpected system state.*work with you to fix it\. //' | cut -c1-400)
        [[ -n $line ]] && reason+="${reason:+ | }$f: $line"
    done
    echo "${reason:-no error line in $RAY_LOG or $logs; its last lines: $(tail -c 400 "$RAY_LOG" 2>/dev/null | tr '\n' ' ')}"
}

ray_up() {
    local py t=$RAY_TIMEOUT pid start reason inc
    if [[ -f $RAY_PID ]] && pid_alive "$RAY_PID"; then
        echo "local-cluster: ray already up (head pid $(cat "$RAY_PID"), address 127.0.0.1:$RAY_PORT)"
        return 0
    fi
    py=$(ray_python)
    [[ -x $py ]] || die "no Python interpreter at '$py' (set XLING_PYTHON)"
    "$py" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("ray") is None)' \
        || die "the ray package is not installed for $py: pip install 'xling[cluster]'"
    mkdir -p "$RAY_TMP"
    # our own --temp-dir: an old session's logs would mislead the reason, an old head.log the readiness check
    rm -rf "$RAY_TMP"/session_* "$RAY_PID" "$RAY_LOG"
    inc=$((15 - $(nice))); ((inc > 0)) || inc=0  # nice 15 whatever the caller's niceness
    # Every Ray startup wait that is a setting gets XLING_RAY_START_TIMEOUT_S (the defaults are 30-60 s;
    # a nice-15 head on 2 loaded cores needs minutes): the dashboard head, agent registration, worker
    # registration (each worker imports ray and unpickles the pipeline), the GCS health checks that
    # would otherwise declare a starved raylet dead. Ray's two fixed waits (the agents' port files, the
    # raylet's registration) are lifted by scripts/ray_head.py, which needs the agents' ports fixed.
    # Workers keep the head's nice 15 (Ray's default adds 15 more).
    # No autoscaler monitor: a fixed single node has nothing to scale.
    (
        export RAY_USAGE_STATS_ENABLED=0 XLING_RAY_START_TIMEOUT_S=$t RAY_DASHBOARD_STARTUP_TIMEOUT_S=$t \
            RAY_gcs_server_port_wait_time_s=$t RAY_worker_register_timeout_seconds=$t \
            RAY_agent_register_timeout_ms=$((t * 1000)) RAY_gcs_rpc_server_reconnect_timeout_s=$t \
            RAY_health_check_timeout_ms=60000 RAY_health_check_failure_threshold=20 RAY_worker_niceness=0 \
            RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0
        exec setsid nice -n "$inc" "$py" "$REPO/scripts/ray_head.py" start --head --block \
            --node-ip-address=127.0.0.1 --port="$RAY_PORT" --num-cpus="$RAY_CPUS" --temp-dir="$RAY_TMP" \
            --include-dashboard=false --disable-usage-stats --no-monitor --ray-client-server-port=$((RAY_PORT + 5)) \
            --dashboard-agent-grpc-port=$((RAY_PORT + 1)) --dashboard-agent-listen-port=$((RAY_PORT + 2)) \
            --runtime-env-agent-port=$((RAY_PORT + 3)) --metrics-export-port=$((RAY_PORT + 4)) \
            >"$RAY_LOG" 2>&1 </dev/null
    ) &
    pid=$!
    echo "$pid" >"$RAY_PID"
    start=$SECONDS
    while ((SECONDS - start < t + 60)); do
        if grep -q "Ray runtime started" "$RAY_LOG" 2>/dev/null; then
            echo "local-cluster: ray up (head pid $pid, $RAY_CPUS CPUs, started in $((SECONDS - start)) s at load" \
                "average $(cut -d' ' -f1 /proc/loadavg); export RAY_ADDRESS=127.0.0.1:$RAY_PORT; logs in $RAY_TMP/session_latest/logs)"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            reason=$(ray_reason)
            ray_down >/dev/null
            die "ray start --head exited after $((SECONDS - start)) s at load average $(cut -d' ' -f1 /proc/loadavg): $reason"
        fi
        sleep 1
    done
    reason=$(ray_reason)
    ray_down >/dev/null
    die "the Ray head did not start within $((SECONDS - start)) s (load average $(cut -d' ' -f1 /proc/loadavg)): $reason"
}

ray_down() {
    local sid pids
    [[ -f $RAY_PID ]] || { echo "local-cluster: ray is not running (no $RAY_PID)"; return 0; }
    sid=$(cat "$RAY_PID")
    # ray start --block stops its own processes on SIGTERM (no drain wait: up sets
    # RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0); whatever of the session is left after 20 s gets
    # SIGTERM, then SIGKILL
    kill -TERM "$sid" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$sid" 2>/dev/null || break; sleep 0.5; done
    for sig in TERM KILL; do
        pids=$(ray_session_pids "$sid")
        [[ -n $pids ]] || break
        # shellcheck disable=SC2086
        kill -$sig $pids 2>/dev/null || true
        for _ in $(seq 20); do [[ -z $(ray_session_pids "$sid") ]] && break; sleep 0.5; done
    done
    rm -f "$RAY_PID"
    echo "local-cluster: stopped ray (session $sid)"
}

ray_status() {
    if [[ -f $RAY_PID ]] && pid_alive "$RAY_PID"; then
        echo "ray: running (head pid $(cat "$RAY_PID"), address 127.0.0.1:$RAY_PORT, logs in $RAY_TMP/session_latest/logs)"
        # shellcheck disable=SC2046
        ps -o pid=,ni=,etime=,comm= -p $(ray_session_pids "$(cat "$RAY_PID")" | paste -sd,)
        return 0
    fi
    echo "ray: not running"
    return 3
}

case ${1:-}:${2:-slurm} in
    up:slurm) slurm_up ;;
    up:ray) ray_up ;;
    down:slurm) slurm_down ;;
    down:ray) ray_down ;;
    down:all) ray_down; slurm_down ;;
    status:slurm) slurm_status ;;
    status:ray) ray_status ;;
    *) echo "usage: $0 up|status [slurm|ray] | down [slurm|ray|all]" >&2; exit 2 ;;
esac
