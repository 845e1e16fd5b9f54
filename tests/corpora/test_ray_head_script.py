"""scripts/ray_head.py without a cluster: the agent wrapper that lets `scripts/local-cluster.sh up ray`
start on a loaded machine must publish the agents' ports exactly as Ray itself does (checked against
Ray's own `persist_port`), or the raylet would read the wrong port or none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("agent_args, ports", [
    # the dashboard agent's ports (metrics export left at 0: only the agent knows it), the runtime-env agent's
    (["--grpc-port=26391", "--listen-port=26392", "--metrics-export-port=0"],
     {"METRICS_AGENT_PORT_NAME": 26391, "DASHBOARD_AGENT_LISTEN_PORT_NAME": 26392}),
    (["--runtime-env-agent-port=26393"], {"RUNTIME_ENV_AGENT_PORT_NAME": 26393}),
])
def test_ray_head_agent_wrapper_publishes_ports_as_ray_does(tmp_path, agent_args, ports):
    """The port files the raylet waits for, byte for byte as Ray's `persist_port` writes them; then the
    agent is exec'd with its arguments unchanged."""
    raylet = pytest.importorskip("ray._raylet")
    node_id = "5e" * 28
    ours, ray_own = tmp_path / "ours", tmp_path / "ray"
    ours.mkdir()
    ray_own.mkdir()
    for name, port in ports.items():
        raylet.persist_port(str(ray_own), node_id, getattr(raylet, name), port)
    probe = tmp_path / "agent.py"  # stands in for the agent: prints the arguments it was exec'd with
    probe.write_text("import sys\nprint(repr(sys.argv[1:]))\n")
    args = [f"--node-id={node_id}", f"--session-dir={ours}", *agent_args, "--log-dir=/nowhere"]
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "ray_head.py"), "agent", str(probe), *args],
                         capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == repr(args)
    assert {p.name: p.read_bytes() for p in ours.iterdir()} == {p.name: p.read_bytes() for p in ray_own.iterdir()}
