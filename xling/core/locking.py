"""One run per output folder: an exclusive lock held by the live process.

`output_lock(out)` takes `fcntl.flock` on `<parent>/.<name>.lock` — a sibling, not a file inside
OUT, so `--overwrite` (which deletes OUT) and atomic folder renames (vocab) cannot drop it. The
kernel releases a flock when its holder dies, even by kill -9, so a stale lock is broken simply
by taking it; the file records the holder (pid, command, start time) for the refusal message.

Re-entrant within one process (a pipeline stage calling another on the same folder), and taken
only on rank 0 of a `torchrun` job: the other ranks of the same job write into the folder too.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import inspect
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from xling.core.errors import OutputError, OutputLockedError
from xling.core.io import read_json

F = TypeVar("F", bound=Callable[..., Any])

_HELD: dict[str, int] = {}  # lock file → depth, for re-entry from the same process


def lock_path(out: str | os.PathLike) -> Path:
    p = Path(os.path.abspath(out))
    return p.with_name(f".{p.name}.lock")


def holder(out: str | os.PathLike) -> dict | None:
    """What the lock file says about its holder (None when absent or unreadable)."""
    try:
        return read_json(lock_path(out))
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def output_lock(out: str | os.PathLike, what: str = "") -> Iterator[Path]:
    """Hold OUT's lock for the block; raises `OutputLockedError` naming the holder when busy."""
    path = lock_path(out)
    key = str(path)
    if key in _HELD or int(os.environ.get("RANK", "0") or 0) != 0:
        _HELD[key] = _HELD.get(key, 0) + 1
        try:
            yield path
        finally:
            _HELD[key] -= 1
            if not _HELD[key]:
                del _HELD[key]
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path, out)
    _HELD[key] = 1
    try:
        info = {"pid": os.getpid(), "command": what or " ".join(["xling", *sys.argv[1:]]), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        yield path
    finally:
        del _HELD[key]
        # Unlink before unlocking: a waiter that opened this inode re-checks it after locking (_acquire).
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _acquire(path: Path, out: str | os.PathLike) -> int:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except PermissionError as e:
            raise OutputError(f"cannot write the output folder {out}: {e.strerror} ({path.parent}); choose a "
                              "folder you can write to") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            info = holder(out) or {}
            pid = info.get("pid")
            who = f"pid {pid}" if pid else "another process"
            extra = f" (`{info['command']}`, started {info.get('started', '?')})" if info.get("command") else ""
            raise OutputLockedError(f"{out} is in use by another xling run: {who}{extra}; wait for it to finish "
                                    f"or stop it, or choose another output folder (lock: {path})",
                                    pid=pid) from None
        # The holder may have unlinked the file between our open and our lock: then retry on a fresh one.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def locked_output(out_of: Callable[[Mapping[str, Any]], str | os.PathLike | None]) -> Callable[[F], F]:
    """Decorate a stage entry point so it runs holding `output_lock` of its output folder;
    `out_of` picks the folder from the call's arguments by name (defaults applied), e.g.
    `lambda a: a["out"]` or `lambda a: a["cfg"].out`. No folder named: nothing to lock, and the
    stage itself reports the missing folder."""

    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            out = out_of(bound.arguments)
            if not out:
                return fn(*args, **kwargs)
            with output_lock(out):
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap
