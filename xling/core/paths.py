"""Where real data lives: `XLING_DATA`, else `../shared/data` when it exists."""

from __future__ import annotations

import os
import re
from pathlib import Path

from xling.core.errors import XlingError

ENV_VAR = "XLING_DATA"
_REPO_ROOT = Path(__file__).resolve().parents[1]


class DataRootError(XlingError, FileNotFoundError):
    pass


def data_root(required: bool = True) -> Path | None:
    """Return the data root. Order: $XLING_DATA, ./../shared/data, <repo>/../shared/data."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if p.is_dir():
            return p.resolve()
        if required:
            raise DataRootError(f"{ENV_VAR}={env} is not a directory. Point {ENV_VAR} at the data root "
                                "(the folder with MANIFEST.md, e.g. ../shared/data).")
        return None
    for cand in (Path.cwd().parent / "shared" / "data", _REPO_ROOT.parent / "shared" / "data"):
        if cand.is_dir():
            return cand.resolve()
    if required:
        raise DataRootError(f"no data root found: set {ENV_VAR} to the folder holding the real data "
                            "(e.g. export XLING_DATA=/path/to/shared/data).")
    return None


def data_path(rel: str | os.PathLike) -> Path:
    """A path under the data root; a clear error if it is missing."""
    root = data_root()
    p = root / rel
    if not p.exists():
        raise DataRootError(f"expected {p} under the data root {root} ({ENV_VAR}); it does not exist")
    return p


_COLUMN = re.compile(r"(.+)#([1-9][0-9]*)")


def split_column(path: str | os.PathLike) -> tuple[Path, int]:
    """`file.tsv#2` → (file.tsv, 2): a tab-separated input read from its second column; 0 = no column
    named (a file whose own name ends in `#N` stays that file). The one reading of the `#N` suffix that
    every input spec (`corpora clean`, corpus folders' `LANG=file`, `lid train`) accepts."""
    path = Path(path)
    m = _COLUMN.fullmatch(str(path))
    if m and not path.exists():
        return Path(m.group(1)), int(m.group(2))
    return path, 0


def resolve_data_path(path: str | os.PathLike) -> Path:
    """Recipes write data paths as `$XLING_DATA/...` or relative paths; expand both."""
    s = str(path)
    if s.startswith(("$XLING_DATA", "${XLING_DATA}")):
        rest = s.split("}", 1)[1] if s.startswith("${") else s[len("$XLING_DATA"):]
        return data_root() / rest.lstrip("/")
    return Path(os.path.expandvars(os.path.expanduser(s)))
