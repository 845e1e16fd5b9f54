"""Worker processes never outlive the command that started them.

`no_orphans()` starts a small watchdog process next to the command. Every 0.2 s it records the
command's descendants (from `/proc`); once the command is gone — finished badly, SIGTERM, or
kill -9 — it SIGKILLs the recorded descendants that are still alive (checked by start time, so a
reused pid is never hit). This reaches what no signal handler can: datatrove's pool workers and
the `multiprocess` manager/forkserver processes of a command killed with -9. The process group is
left alone on purpose: a command run from a script shares its group with that script.

`terminate_on_sigterm()` turns SIGTERM into `Terminated` (a KeyboardInterrupt), so `with` blocks
unwind as for Ctrl-C: pools terminate their workers, locks and temporary files are released.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

_WATCHDOG = r"""
import os, signal, sys, time
parent = int(sys.argv[1])

def start_time(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), int(fields[19])  # ppid, starttime
    except (OSError, IndexError, ValueError):
        return None

me = os.getpid()
parent_start = start_time(parent)
known = {}  # pid -> starttime of the parent's descendants
while True:
    now = start_time(parent)
    if now is None or now[1] != parent_start[1]:
        break
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = start_time(int(name))
            if info is not None:
                table[int(name)] = info
    family, grew = {parent}, True
    while grew:
        grew = False
        for pid, (ppid, _) in table.items():
            if ppid in family and pid not in family and pid != me:
                family.add(pid)
                grew = True
    known.update({pid: table[pid][1] for pid in family if pid != parent})
    known = {pid: st for pid, st in known.items() if pid in table and table[pid][1] == st}
    time.sleep(0.2)
for pid, st in known.items():
    info = start_time(pid)
    if info is not None and info[1] == st:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
"""


@contextlib.contextmanager
def no_orphans() -> Iterator[None]:
    """While the block runs, a watchdog kills this process's descendants if this process dies."""
    if not os.path.isdir("/proc") or not sys.executable:  # the watchdog reads /proc (Linux); elsewhere only signals help
        yield
        return
    dog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid())], stdin=subprocess.DEVNULL,
                           start_new_session=True)  # not in our group: Ctrl-C must not stop it first
    try:
        yield
    finally:
        dog.kill()
        dog.wait()


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwind like Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated(f"stopped by signal {signum}")


def terminate_on_sigterm() -> None:
    """Install the SIGTERM → `Terminated` handler (main thread only)."""
    with contextlib.suppress(ValueError):  # not the main thread (embedded use): keep the default
        signal.signal(signal.SIGTERM, _on_sigterm)
