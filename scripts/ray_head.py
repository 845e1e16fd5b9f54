"""`ray start …` without Ray's two fixed start-up deadlines, for a local Ray head on a loaded machine.

scripts/local-cluster.sh runs this instead of the `ray` command (tested with ray 2.60). Every other
start-up wait of Ray is an environment setting, which the script raises (RAY_DASHBOARD_STARTUP_TIMEOUT_S,
RAY_agent_register_timeout_ms, RAY_worker_register_timeout_seconds, RAY_health_check_*, …); these two
are not, and on 2 cores shared with nice-0 work a nice-15 head misses both:

1. The raylet's constructor waits a fixed ~15 s for each agent to publish its ports (files
   `<session>/<name>_port_<node id>`, `NodeManager::WaitForDashboardAgentPorts`) and aborts the
   raylet with "Timed out waiting for file …/dashboard_agent_listen_port_…" when the dashboard
   agent is still importing its modules (8 s of CPU here). The script gives every agent a fixed
   port, so the values are known before the agents start: each agent is launched through
   `ray_head.py agent …`, which writes its port files (the same text Ray writes) and then execs
   the real agent, which binds those ports and rewrites the same files.
2. `ray._private.node.Node.__init__` gives the raylet a fixed 30 s to register with the GCS
   (`raylet_start_wait_time_s = 30`, a local variable) before "The current node timed out during
   startup". `ray._private.services.get_node`, which that loop polls, retries here for up to
   XLING_RAY_START_TIMEOUT_S (default 600), and gives up early when the raylet has exited.

Usage: python scripts/ray_head.py start --head … (the arguments of `ray`).
"""

from __future__ import annotations

import os
import sys
import time

# agent argument → the port file the raylet waits for
AGENT_PORT_FILES = {
    "--grpc-port": "metrics_agent_port",
    "--listen-port": "dashboard_agent_listen_port",
    "--metrics-export-port": "metrics_export_port",
    "--runtime-env-agent-port": "runtime_env_agent_port",
}


def publish_ports_and_exec_agent(agent_argv: list[str]) -> None:
    """`agent_argv` is Ray's agent command after the interpreter (script, --flag=value …)."""
    opts = dict(a.split("=", 1) for a in agent_argv if a.startswith("--") and "=" in a)
    session_dir, node_id = opts["--session-dir"], opts["--node-id"]
    for flag, name in AGENT_PORT_FILES.items():
        port = opts.get(flag, "")
        if port.isdigit() and int(port) > 0:  # port 0: only the agent knows it; leave it to the agent
            path = os.path.join(session_dir, f"{name}_{node_id}")
            with open(path + ".xling-tmp", "w") as f:
                f.write(port)
            os.replace(path + ".xling-tmp", path)
    os.execv(sys.executable, [sys.executable, "-u", *agent_argv])


def start(argv: list[str]) -> int:
    import psutil  # a dependency of ray
    import ray._private.ray_constants as ray_constants
    import ray._private.services as services
    from ray.scripts.scripts import main as ray_main

    python_command = getattr(services, "_build_python_executable_command_memory_profileable", None)
    agents = {ray_constants.PROCESS_TYPE_DASHBOARD_AGENT, ray_constants.PROCESS_TYPE_RUNTIME_ENV_AGENT}

    def agent_command(component: str, session_dir: str, unbuffered: bool = True) -> list[str]:
        command = python_command(component, session_dir, unbuffered)
        if component in agents and command == [sys.executable, "-u"]:  # not when Ray wraps it (memray)
            return [*command, os.path.abspath(__file__), "agent"]
        return command

    deadline_s = float(os.environ.get("XLING_RAY_START_TIMEOUT_S", "600"))
    get_node = services.get_node

    def raylet_exited() -> bool:
        return any(p.name() == "raylet" and p.status() == psutil.STATUS_ZOMBIE
                   for p in psutil.Process().children())

    def patient_get_node(gcs_address: str, node_id: str) -> dict:
        end = time.monotonic() + deadline_s
        while True:
            try:
                return get_node(gcs_address, node_id)
            except RuntimeError:  # not registered yet: what node.py retries on
                if time.monotonic() > end or raylet_exited():
                    raise
                time.sleep(1.0)

    # Ray internals as of 2.60: another version that lacks them starts with Ray's own deadlines
    if hasattr(services, "_build_python_executable_command_memory_profileable"):
        services._build_python_executable_command_memory_profileable = agent_command
    else:
        print("ray_head.py: this Ray has no _build_python_executable_command_memory_profileable; the agents "
              "start with Ray's fixed port wait", file=sys.stderr)
    services.get_node = patient_get_node
    sys.argv = ["ray", *argv]
    return ray_main()


if __name__ == "__main__":
    if sys.argv[1:2] == ["agent"]:
        publish_ports_and_exec_agent(sys.argv[2:])
    sys.exit(start(sys.argv[1:]))
