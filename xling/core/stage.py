"""The stage contract: one completion record per stage, one rule for "is it finished".

Every stage (corpus clean/dedup/decontaminate/mix, vocabulary train/extend, a pretraining arm,
back-translation train/translate, an evaluation task, fine-tuning) declares a `StageSpec`: its kind,
output folder, the settings that decide its output, its inputs and the outputs it owns. From those
it gets a fingerprint

    config   the settings, flattened to dotted keys (`train.lr`, `objectives.0.weight`), minus the
             keys that only change how it runs (threads, progress bars, `max_steps_this_run`, ...);
    inputs   per named input: the fingerprint of the upstream stage's completion record when the
             input is a stage output, else size + sha256 of a file (size + mtime above 64 MiB) or a
             digest of every file's path, size and mtime under a folder;
    versions the stage's own format version and the xling version.

A setting that names one of the inputs (`tokenizer: runs/demo/vocab`, `model.init_from`, a corpus
folder) is recorded as `<input NAME>`: the input's content is fingerprinted under `inputs`, so where it
lies is not part of what the stage computes. A run folder copied or moved elsewhere (another machine,
another data root) is still finished there. Records written before this rule are read the same way.

and writes `OUT/stage.json` (atomically) twice: `"status": "running"` before any output, and
`"status": "finished"` (with the stage's own summary under `result`) as its very last write. Each write
also says which code wrote it (`commit`, the checkout's HEAD, "" outside git), and the finished record
how long the invocation that finished the stage took (`seconds`), so a stage folder copied into another
run folder keeps its own provenance (what `xling run`'s report shows for a stage it skipped).

`Stage.begin(force)` decides, before anything is written:
- no record and none of the stage's outputs → run;
- a record with the same fingerprint → `finished`: skip; `running`: resume (an interrupted run);
- a record with another fingerprint → refused with every change named (`train.lr: 0.0005 →
  0.0003`, `input corpus: ... changed`), whether the stage finished or not: a resume never mixes
  two configs. `force=True` (`--force`) deletes the stage's outputs and redoes it;
- outputs but no record (an older version, or another tool) → refused unless forced.

Downstream stages read only finished upstream outputs: `require_finished(folder, command)` refuses
a folder whose record says `running`, naming the command that finishes it, unless `allow_partial`
(`--allow-partial`) is given. A folder without any record (raw data, a hand-made `kept/` tree, or
output of a version before this contract) is read as it is.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shlex
import shutil
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xling import __version__
from xling.core.errors import XlingError
from xling.core.io import read_json, sha256_file, write_json_atomic
from xling.core.paths import resolve_data_path, split_column
from xling.core.versions import git_commit

log = logging.getLogger(__name__)

RECORD_FILE = "stage.json"
RECORD_FORMAT = 1
HASH_LIMIT = 64 << 20  # files up to this size are hashed; bigger ones are compared by size + mtime

Status = Literal["new", "resume", "finished", "redo"]


class StageError(XlingError, ValueError):
    """A stage refused to run (changed settings, unfinished upstream, foreign outputs)."""


@dataclass
class StageSpec:
    kind: str  # e.g. "pretrain", "corpus-dedup", "finetune"
    out: Path  # the folder holding the stage's outputs and its record
    config: Mapping[str, Any]  # the settings that decide the output (JSON-able)
    inputs: Mapping[str, str | os.PathLike | None] = field(default_factory=dict)  # name → file or folder
    outputs: tuple[str, ...] = ()  # paths under `out` the stage writes; deleted by --force
    ignore: tuple[str, ...] = ()  # dotted config keys (or prefixes) that do not change the output
    version: int = 1  # bump when the stage's output changes for the same config
    record: str = RECORD_FILE  # record file name under `out` (several stages may share a folder)
    # False: outputs without a record are resumed over, not refused (clean: a dry run's launch
    # scripts, and the cluster jobs they ran, write into OUT before any record exists)
    refuse_unrecorded: bool = True


# ---------------------------------------------------------------------------------------- fingerprint


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """{dotted key: leaf value}; list items are addressed by index (`arms.1.lr`)."""
    if isinstance(obj, Mapping):
        if not obj and prefix:
            return {prefix: {}}
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, (list, tuple)):
        if not obj and prefix:
            return {prefix: []}
        out = {}
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return {prefix: obj}


def without_new_defaults(config: Mapping[str, Any], new_defaults: Mapping[str, Any]) -> dict[str, Any]:
    """`config` less the settings named in `new_defaults` while they hold that default: a setting added
    after records were written stays out of the fingerprint until it is used, so those records stay valid."""
    return {k: v for k, v in config.items() if k not in new_defaults or v != new_defaults[k]}


def _ignored(key: str, ignore: Iterable[str]) -> bool:
    return any(key == k or key.startswith(k + ".") for k in ignore)



def find_record(path: Path) -> Path | None:
    """The completion record that owns `path`: `path/stage.json`, else its parent's (a stage's
    `final/` or `model/` folder is an output of the stage recorded one level up)."""
    for d in (path, path.parent):
        if (d / RECORD_FILE).is_file():
            return d / RECORD_FILE
    return None


def input_fingerprint(path: str | os.PathLike | None) -> str:
    """A short description of an input that changes whenever its content (probably) does."""
    if path is None or str(path) == "":
        return "none"
    p, column = split_column(path)
    if column:  # `file.tsv#N`: the file's content and which of its columns is read
        return f"{input_fingerprint(p)} column {column}"
    rec = find_record(p) if p.exists() else None
    if rec is not None:
        data = read_record(rec)
        if data is not None and data.get("status") == "finished":
            return f"stage {data.get('kind')} {data.get('fingerprint', '')[:16]}"
    if p.is_file():
        st = p.stat()
        if st.st_size <= HASH_LIMIT:
            return f"file {st.st_size} bytes sha256 {sha256_file(p)[:16]}"
        return f"file {st.st_size} bytes mtime {st.st_mtime_ns}"
    if p.is_dir():
        h = hashlib.sha256()
        n = 0
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            st = f.stat()
            h.update(f"{f.relative_to(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            n += 1
        return f"folder {n} files {h.hexdigest()[:16]}"
    return "missing"


def _where(path: str | os.PathLike) -> str:
    try:
        return str(resolve_data_path(path).resolve())
    except (OSError, RuntimeError, ValueError):  # a data root that is not set, a loop of links
        return str(path)


def _input_marker(value: Any, locations: Mapping[str, str]) -> Any:
    """`<input NAME>` for a setting that names input NAME (`LANG=path` keeps its `LANG=`), else the value."""
    if not isinstance(value, str) or not value:
        return value
    head, sep, tail = value.partition("=")
    prefix, path = (head + sep, tail) if sep and "/" not in head else ("", value)
    name = locations.get(_where(path))
    return f"{prefix}<input {name}>" if name is not None else value


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def fingerprint(spec: StageSpec) -> dict[str, Any]:
    locations: dict[str, str] = {}
    for name, p in sorted(spec.inputs.items()):
        if p is not None and str(p):
            locations.setdefault(_where(p), name)
    config = {k: _input_marker(v, locations)
              for k, v in flatten(json.loads(json.dumps(spec.config, default=str))).items()
              if not _ignored(k, spec.ignore)}
    inputs = {name: input_fingerprint(p) for name, p in sorted(spec.inputs.items())}
    versions = {"stage": spec.version, "xling": __version__}
    body = {"config": config, "inputs": inputs, "versions": versions}
    return {**body, "sha256": _digest(body)}


def _as_located(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded fingerprint body with the settings the current one marks as inputs marked the same
    way: what a record written elsewhere (or before the marker rule) says, in today's terms."""
    config = dict(recorded.get("config", {}) or {})
    for key, value in (current.get("config", {}) or {}).items():
        if isinstance(value, str) and "<input " in value and isinstance(config.get(key), str):
            config[key] = value
    return {**recorded, "config": config}


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any],
                     where: Mapping[str, Any] | None = None) -> list[str]:
    """`key: old → new` for every setting, input and version that differs; an input named in `where`
    is shown with its location (`input tokenizer (runs/b/vocab): ...`)."""
    out = []
    for section, label in (("config", ""), ("inputs", "input "), ("versions", "version ")):
        a, b = old.get(section, {}) or {}, new.get(section, {}) or {}
        for key in sorted(set(a) | set(b)):
            if a.get(key, "<unset>") != b.get(key, "<unset>"):
                at = f" ({where[key]})" if section == "inputs" and where and where.get(key) else ""
                out.append(f"{label}{key}{at}: {_show(a.get(key, '<unset>'))} → {_show(b.get(key, '<unset>'))}")
    return out


def _show(v: Any) -> str:
    return v if isinstance(v, str) and v.startswith("<") else json.dumps(v, ensure_ascii=False)


# ------------------------------------------------------------------------------------------- records


def read_record(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except (OSError, ValueError) as e:
        raise StageError(f"{path}: unreadable stage record ({e}); delete it and re-run with --force") from None
    if not isinstance(data, dict) or data.get("status") not in ("running", "finished"):
        raise StageError(f"{path}: not a stage record (no status running/finished); delete it and re-run with "
                         "--force")
    return data


class Stage:
    """A stage's view of its record. `begin` once before working, `finish` as the last write."""

    def __init__(self, spec: StageSpec) -> None:
        self.spec = spec
        self.out = Path(spec.out)
        self.path = self.out / spec.record
        self.fp = fingerprint(spec)
        self._t0: float | None = None  # when this process began the stage (for the record's `seconds`)

    @property
    def record(self) -> dict[str, Any] | None:
        return read_record(self.path)

    def changes(self) -> list[str]:
        rec = self.record
        if rec is None:
            return []
        # a setting naming an input reads `<input NAME>` on both sides: say where that input is now
        return describe_changes(_as_located(rec.get("fingerprint_body", {}), self.fp), self.fp, self.spec.inputs)

    def state(self) -> Literal["new", "running", "finished", "changed", "foreign"]:
        """What `begin` would find, without writing or refusing anything."""
        rec = self.record
        if rec is None:
            return "foreign" if self.spec.refuse_unrecorded and self._existing_outputs() else "new"
        if rec.get("fingerprint") != self.fp["sha256"] and not self._moved(rec):
            return "changed"
        return rec["status"]

    def _moved(self, rec: Mapping[str, Any]) -> bool:
        """The record differs from today's fingerprint only in where its inputs lie (same contents)."""
        body = rec.get("fingerprint_body")
        if not isinstance(body, Mapping):
            return False
        located = _as_located(body, self.fp)
        return _digest({k: located.get(k) for k in ("config", "inputs", "versions")}) == self.fp["sha256"]

    def is_finished(self) -> bool:
        return self.state() == "finished"

    def _existing_outputs(self) -> list[Path]:
        return [self.out / o for o in self.spec.outputs if (self.out / o).exists()]

    def begin(self, force: bool = False, write: bool = True) -> Status:
        """Check the record against the current fingerprint: 'finished' (skip), 'resume', 'new' or
        'redo' (outputs deleted); refuse a changed fingerprint unless `force`. `write=False` only
        checks (no deletion, no record written)."""
        self._t0 = time.time()
        state = self.state()
        if state == "finished" and not force:
            return "finished"
        if state in ("changed", "foreign") and not force:
            raise StageError(self._refusal(state))
        if force and (state != "new" or self._existing_outputs()):
            if write:  # a dry check (other processes of a distributed run) leaves the files alone
                self.clear()
            status: Status = "redo"
        else:
            status = "resume" if state == "running" else "new"
        if write:
            self._write("running")
        return status

    def _refusal(self, state: str) -> str:
        what = f"{self.spec.kind} stage in {self.out}"
        if state == "foreign":
            found = ", ".join(str(p.relative_to(self.out)) for p in self._existing_outputs())
            return (f"{what}: holds outputs ({found}) but no {self.spec.record} (written by an older version or "
                    "another tool); re-run with --force to redo it, or use another output folder")
        rec = self.record or {}
        done = "finished" if rec.get("status") == "finished" else "was started (unfinished)"
        diff = "; ".join(self.changes()) or "fingerprint format changed"
        return (f"{what} {done} with other settings: {diff}. Re-run with --force to redo it (its outputs are "
                f"deleted), or use another output folder")

    def clear(self) -> None:
        """Delete the stage's declared outputs and its record (what --force does before redoing)."""
        for p in self._existing_outputs():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        self.path.unlink(missing_ok=True)

    def _write(self, status: str, result: Mapping[str, Any] | None = None, folder: Path | None = None) -> None:
        path = self.path if folder is None else Path(folder) / self.spec.record
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {k: v for k, v in self.fp.items() if k != "sha256"}
        rec: dict[str, Any] = {"format": RECORD_FORMAT, "kind": self.spec.kind, "status": status,
                               "fingerprint": self.fp["sha256"], "fingerprint_body": body,
                               "outputs": list(self.spec.outputs), "command": _command(),
                               "commit": _commit(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if status == "finished" and self._t0 is not None:
            rec["seconds"] = round(time.time() - self._t0, 1)
        if result is not None:
            rec["result"] = dict(result)
        write_json_atomic(path, rec)

    def start(self) -> None:
        if self._t0 is None:
            self._t0 = time.time()
        self._write("running")

    def finish(self, result: Mapping[str, Any] | None = None, folder: Path | None = None) -> None:
        """The last write of a finished stage. `folder`: write the record there instead (a stage
        that assembles its output in a temporary folder renamed onto OUT at the end)."""
        self._write("finished", result, folder)

    def result(self) -> dict[str, Any]:
        rec = self.record
        return dict(rec.get("result", {})) if rec else {}


# ------------------------------------------------------------------------------------------- upstream


# HEAD when this process first asked: the code it runs was loaded then, whatever is committed later.
_commit = functools.cache(git_commit)


def _command() -> str | None:
    """The xling command line of this process (None when called from Python, e.g. a test)."""
    name = Path(sys.argv[0]).name if sys.argv else ""
    if name != "xling" and not (name in ("cli.py", "__main__.py") and "xling" in sys.argv[0]):
        return None
    # without --force: re-running the recorded command must resume the stage, not redo it
    return shlex.join(["xling", *(a for a in sys.argv[1:] if a not in ("--force", "--overwrite"))])


def upstream_state(folder: str | os.PathLike, stage_outputs: Iterable[str] = ()) -> str:
    """'finished' / 'running' for a stage output folder; 'external' for a folder without a record
    (raw data, a hand-made corpus); 'legacy' when it has none of a record but one of `stage_outputs`
    (for callers that know such a folder can only come from a stage)."""
    p = Path(folder)
    rec_path = find_record(p) if p.exists() else None
    if rec_path is not None:
        rec = read_record(rec_path)
        return str(rec["status"]) if rec else "external"
    if p.is_dir() and any((p / o).exists() for o in stage_outputs):
        return "legacy"
    return "external"


def require_finished(folder: str | os.PathLike, finish_command: str, allow_partial: bool = False,
                     stage_outputs: Iterable[str] = ()) -> None:
    """Refuse to read an unfinished stage's output; `allow_partial` turns the refusal into a warning."""
    state = upstream_state(folder, stage_outputs)
    if state in ("finished", "external"):
        return
    rec_path = find_record(Path(folder))
    recorded = (read_record(rec_path) or {}).get("command") if rec_path else None
    if recorded:  # the command that started it: re-running it resumes and finishes the stage
        finish_command = recorded
    why = ("its stage has not finished (stage.json says running)" if state == "running"
           else "it holds stage outputs but no completion record (stage.json)")
    msg = (f"{folder}: {why}, so it may hold only part of its output. Finish it first: {finish_command} — or "
           "pass --allow-partial to read it as it is")
    if not allow_partial:
        raise StageError(msg)
    log.warning("reading a partial stage output (--allow-partial): %s", msg)


def add_allow_partial_option(parser: Any, what: str = "input folders") -> None:
    """`--allow-partial`: the one way a command reads another stage's unfinished output (`require_finished`)."""
    parser.add_argument("--allow-partial", action="store_true",
                        help=f"read {what} whose stage has not finished (refused without it)")


def input_paths(specs: Iterable[str | os.PathLike]) -> list[str]:
    """The file or folder of each input spec (`LANG=file` → file; a plain path stays as it is)."""
    out = []
    for s in map(str, specs):
        head, sep, tail = s.partition("=")
        out.append(tail if sep and "/" not in head else s)
    return out


def require_finished_inputs(specs: Iterable[str | os.PathLike], allow_partial: bool = False) -> None:
    """Refuse input folders written by a stage of ours that has not finished."""
    for path in input_paths(specs):
        require_finished(_expand(path), f"re-run the command that writes {path} until it finishes", allow_partial)


def _expand(path: str) -> Path:
    return resolve_data_path(path)
