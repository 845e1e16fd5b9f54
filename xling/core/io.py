"""File helpers shared by every stage: JSON and JSON-lines readers, transparent (de)compression, atomic writes."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import json
import lzma
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from xling.core.errors import InputError


def open_text(path: str | os.PathLike, mode: str = "rt", errors: str = "strict") -> IO[str]:
    """Open a text file, decompressing `.gz`, `.xz`/`.lzma` and `.bz2` by suffix."""
    p = str(path)
    mode = mode if "t" in mode else mode + "t"
    if p.endswith(".gz"):
        return gzip.open(p, mode, encoding="utf-8", errors=errors)
    if p.endswith((".xz", ".lzma")):
        return lzma.open(p, mode, encoding="utf-8", errors=errors)
    if p.endswith(".bz2"):
        return bz2.open(p, mode, encoding="utf-8", errors=errors)
    return open(p, mode, encoding="utf-8", errors=errors)


def read_lines(path: str | os.PathLike) -> list[str]:
    """All lines of a (possibly compressed) text file, without line endings."""
    with open_text(path) as f:
        return f.read().splitlines()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    Works for files and folders: readers never see a half-written output, and a killed run
    leaves at most a `.tmp-*` sibling that the next run ignores or overwrites.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    tmp_target = tmp / target.name
    try:
        yield tmp_target
        if target.is_dir() and tmp_target.is_dir():
            old = target.with_name(f".old-{target.name}-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp_target, target)
            _rmtree(old)
        else:
            os.replace(tmp_target, target)
    finally:
        _rmtree(tmp)


def _rmtree(p: Path) -> None:
    shutil.rmtree(p, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False, sort_keys=False) + "\n")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB blocks (memory stays flat for any size)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file's value; a syntax error names the file (still a `json.JSONDecodeError`)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise json.JSONDecodeError(f"{path}: malformed JSON ({e.msg})", e.doc, e.pos) from None


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Yield JSON objects from a (possibly compressed) JSON-lines file; errors name file and line."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{lineno}: malformed JSON line ({e.msg})") from None


def write_jsonl_atomic(path: str | os.PathLike, rows: Any) -> Path:
    """Write rows as JSON lines (gzip if the name ends in .gz), atomically."""
    with atomic_path(path) as tmp:
        opener = gzip.open if str(path).endswith(".gz") else open
        # mtime=0 keeps gzip output byte-identical across runs (determinism tests rely on it).
        if opener is gzip.open:
            with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                for row in rows:
                    gz.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
        else:
            with open(tmp, "w", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return Path(path)
