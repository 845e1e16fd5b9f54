"""`xling data fetch`: download the public evaluation data with checksums, resumably, safely.

Every source in `data_manifest.json` names its canonical URL, the sha256 and size of the exact
bytes, where it goes under the destination (the data-root layout the task registry reads), and,
for archives, where to unpack it. Downloads go to `<file>.part` and resume with an HTTP `Range`
request; a file only gets its final name once its checksum matches. A mirror (a folder or a
base URL) must hold the files at the same relative paths (`xquad/xquad.de.json`,
`xnli/XNLI-1.0.zip`, ...); a plain file may also be stored compressed there (`.xz`/`.gz`, as in
`../shared/data`): its *decompressed* bytes are checked and it is kept compressed.

Archives are unpacked into a temporary folder first and only moved into place once every member
is written (merged into existing folders: same-named files are replaced, nothing else is
deleted). Any member whose path (or link target) would land outside the destination, any device
or FIFO member, and any member whose path passes through a symlink member is refused before
anything is written; every write then checks the real (symlink-resolved) parent folder of its
target, so a chain of links that each look harmless cannot lead outside either. Every download
is capped in size (the manifest's size, or `--max-bytes`): a mirror cannot fill the disk.

The same machinery fetches the pretraining inputs of the shipped recipes (`--pretrain LIST`, from
`pretrain_manifest.json`): those sources are kept xz-compressed at their data-root path (`store`),
as the recipes name them; the checksum is always that of the upstream (decompressed) bytes, so a
canonical download is compressed after it is checked, and a mirror of a data root serves the `.xz`
file as it is.
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import hashlib
import http.client
import json
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from tqdm import tqdm

from xling.core.errors import InputError
from xling.core.io import atomic_path
from xling.core.report import markdown_table

MANIFEST_PATH = Path(__file__).with_name("data_manifest.json")
PRETRAIN_MANIFEST_PATH = Path(__file__).with_name("pretrain_manifest.json")
CHUNK = 1 << 20
COMPRESSED_VARIANTS = (".xz", ".gz")


@dataclass(frozen=True)
class Source:
    name: str
    tasks: tuple[str, ...]
    url: str
    path: str  # relative destination (POSIX), also the relative path on a mirror
    size: int
    sha256: str
    lang: str | None = None
    extract: dict[str, Any] | None = None  # {"to": relative folder, "strip": leading components to drop}
    license: str = ""
    note: str = ""
    # "" = stored as published; ".xz" = stored xz-compressed at `path` (sha256/size stay those of the
    # published bytes), the way the data root keeps the pretraining text the recipes read.
    store: str = ""

    def __post_init__(self) -> None:
        _check_relative(self.path, f"source {self.name}: path")
        if self.store not in ("", *COMPRESSED_VARIANTS):
            raise InputError(f"source {self.name}: store must be one of '', {', '.join(COMPRESSED_VARIANTS)}; "
                             f"got {self.store!r}")
        if self.store and (self.extract is not None or not self.path.endswith(self.store)):
            raise InputError(f"source {self.name}: a source stored as {self.store} must be a single file whose "
                             f"path ends in {self.store} (path {self.path!r})")
        if self.extract is not None:
            _check_relative(self.extract.get("to", "") or ".", f"source {self.name}: extract.to")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise InputError(f"source {self.name}: sha256 must be 64 lowercase hex digits")


@dataclass(frozen=True)
class Manifest:
    sources: tuple[Source, ...]
    manual: dict[str, str]
    # pretraining lists: name → {"recipe": shipped recipe, "eval_tasks": the evaluation tasks it runs}
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)

    def tasks(self) -> list[str]:
        return sorted({t for s in self.sources for t in s.tasks} | set(self.manual))


def _check_relative(path: str, what: str) -> None:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or "\\" in path:
        raise InputError(f"{what} {path!r} must be a relative path inside the destination")


def load_manifest(path: str | os.PathLike | None = None) -> Manifest:
    p = Path(path) if path is not None else MANIFEST_PATH
    with open(p, encoding="utf-8") as f:
        raw = json.load(f)
    sources = []
    for i, entry in enumerate(raw.get("sources", [])):
        try:
            sources.append(Source(name=entry["name"], tasks=tuple(entry["tasks"]), url=entry["url"],
                                  path=entry["path"], size=int(entry["size"]), sha256=entry["sha256"],
                                  lang=entry.get("lang"), extract=entry.get("extract"),
                                  license=entry.get("license", ""), note=entry.get("note", ""),
                                  store=entry.get("store", "")))
        except KeyError as e:
            raise InputError(f"{p}: sources[{i}] lacks the field {e.args[0]!r}") from None
    names = [s.name for s in sources]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"{p}: duplicate source names {', '.join(dup)}")
    return Manifest(tuple(sources), dict(raw.get("manual", {})), dict(raw.get("lists", {})))


def select_sources(manifest: Manifest, specs: Sequence[str] | None) -> list[Source]:
    """`TASK` or `TASK:l1+l2` specs → sources (all sources when no spec is given)."""
    if not specs:
        return list(manifest.sources)
    chosen: dict[str, Source] = {}
    known = manifest.tasks()
    for spec in specs:
        task, _, langs = spec.partition(":")
        wanted = {x for x in langs.replace(",", "+").split("+") if x} if langs else None
        matches = [s for s in manifest.sources if task in s.tasks
                   and (wanted is None or s.lang is None or s.lang in wanted)]
        if not matches:
            if task in manifest.manual:
                raise InputError(f"{task}: {manifest.manual[task]}")
            if task not in known:
                close = difflib.get_close_matches(task, known, n=3)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise InputError(f"no data source for task {task!r}.{hint} Known: {', '.join(known)}")
            raise InputError(f"task {task} has no source for language(s) {langs}")
        for s in matches:
            chosen.setdefault(s.name, s)
    return list(chosen.values())


# ---------------------------------------------------------------------------------------------
# Checksums and downloads


def sha256_of(path: Path, compression: str = "") -> str:
    """sha256 of a file's bytes, or with `compression` ".xz"/".gz" of its decompressed bytes.

    The compression is given, not guessed from the name: an archive such as `x-final.tar.gz` is
    checked as the compressed bytes its source publishes.
    """
    h = hashlib.sha256()
    opener: Any = {".xz": lzma.open, ".gz": gzip.open}.get(compression, open)
    f: IO[bytes]
    with opener(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _is_url(location: str) -> bool:
    return urllib.parse.urlparse(location).scheme in ("http", "https")


def _join_url(base: str, rel: str) -> str:
    return base.rstrip("/") + "/" + urllib.parse.quote(rel)


class HTTPStatusError(OSError):
    def __init__(self, url: str, code: int) -> None:
        super().__init__(f"{url}: HTTP {code}")
        self.code = code


class TooLargeError(InputError):
    """A download grew past its size cap (the manifest's size, or `--max-bytes`)."""


def size_cap(source: Source, compressed: bool, max_bytes: int | None = None) -> int:
    """Most bytes a download of `source` may take: `max_bytes` when given, else the manifest's size.

    The exact size is known for the published bytes; a compressed mirror copy of a text file is
    smaller in practice, but xz/gzip framing can add a little to incompressible data.
    """
    if max_bytes is not None:
        return max_bytes
    return source.size + (source.size // 100 + 4096 if compressed else 0)


def download(url: str, part: Path, *, timeout: float = 60.0, progress: bool = False,
             total: int | None = None, max_bytes: int | None = None) -> None:
    """Fetch `url` into `part`, resuming from the bytes `part` already holds (HTTP Range).

    A server that ignores Range answers 200 with the whole file: `part` is then rewritten from
    the start. 416 (range not satisfiable) means `part` is already complete. With `max_bytes`,
    a response announcing more, or a body growing past it, stops the download and removes `part`
    (`TooLargeError`): a hostile or broken server cannot fill the disk before the checksum runs.
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "xling-data-fetch/1"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            return
        raise HTTPStatusError(url, e.code) from None
    with resp:
        resuming = have and resp.status == 206
        mode = "ab" if resuming else "wb"
        done = have if resuming else 0

        def too_large(n: int) -> TooLargeError:
            part.unlink(missing_ok=True)
            return TooLargeError(f"{url}: more than {max_bytes:,} bytes ({n:,} announced or received), the size "
                                 "cap of this source; refused and removed (raise it with --max-bytes if the "
                                 "source really grew)")

        if max_bytes is not None and resp.length is not None and done + resp.length > max_bytes:
            raise too_large(done + resp.length)
        bar = _progress(total, done, part.name) if progress else None
        try:
            with open(part, mode) as out:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    done += len(block)
                    if max_bytes is not None and done > max_bytes:
                        out.close()
                        raise too_large(done)
                    out.write(block)
                    if bar is not None:
                        bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
        # http.client returns b"" instead of raising when the connection drops before
        # Content-Length bytes arrived; what is in `part` is kept for the next (Range) attempt.
        if resp.length:
            raise ConnectionError(f"{url}: connection closed with {resp.length} bytes still to come")


def _progress(total: int | None, initial: int, name: str) -> Any:
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=name, leave=False)


# ---------------------------------------------------------------------------------------------
# Safe extraction


def _member_target(dest: Path, name: str, strip: int, archive: Path) -> Path | None:
    """Where an archive member goes, or None when stripping leaves nothing; refuses escapes."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise InputError(f"{archive}: member {name!r} has an absolute path; refusing to extract the archive")
    if ".." in pure.parts:
        raise InputError(f"{archive}: member {name!r} would be written outside {dest}; refusing to extract "
                         "the archive")
    parts = [p for p in pure.parts if p not in ("", ".")][strip:]
    if not parts:
        return None
    target = dest.joinpath(*parts)
    if not _inside(target, dest):
        raise InputError(f"{archive}: member {name!r} would be written outside {dest}; refusing to extract")
    return target


def _inside(path: Path, root: Path) -> bool:
    root_r = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), root_r]) == root_r


def _check_link(archive: Path, dest: Path, member: str, target: Path, link: str, hard: bool) -> None:
    base = dest if hard else target.parent
    resolved = Path(os.path.normpath(base / link))
    if link.startswith("/") or not _inside(resolved, dest):
        kind = "hard link" if hard else "symlink"
        raise InputError(f"{archive}: {kind} {member!r} → {link!r} points outside {dest}; refusing to extract "
                         "the archive")


def _refuse_paths_through_links(archive: Path, members: list[tuple[str, Path | None, bool]]) -> None:
    """Refuse any member whose path passes through (or replaces) a symlink member of the archive.

    Each link may look harmless on its own (`s → .`, `x → s/..`), yet a chain of them climbs out;
    a later member written *through* a link is how that becomes a write outside. Archives we fetch
    never need this, so it is refused outright, before anything is written.
    """
    links = {target for _, target, is_link in members if is_link and target is not None}
    for name, target, is_link in members:
        if target is None:
            continue
        for parent in target.parents:
            if parent in links:
                raise InputError(f"{archive}: member {name!r} passes through the symlink member "
                                 f"{parent.name!r}; refusing to extract the archive")
        if not is_link and target in links:
            raise InputError(f"{archive}: member {name!r} would be written over the symlink member of the same "
                             "name; refusing to extract the archive")


def _writable_target(archive: Path, root: Path, name: str, target: Path) -> Path:
    """Check at write time that `target`'s real parent folder lies inside `root` and that `target`
    is not a symlink (opening it would follow the link); returns the path to write."""
    parent = os.path.realpath(target.parent)
    root_r = os.path.realpath(root)
    if os.path.commonpath([parent, root_r]) != root_r or os.path.islink(target):
        raise InputError(f"{archive}: member {name!r} would be written outside {root} through a symlink; "
                         "refusing to extract the archive")
    return Path(parent) / target.name


def _mkdirs(archive: Path, root: Path, name: str, folder: Path) -> None:
    """`folder.mkdir(parents=True)` that never follows a symlink on the way down from `root`."""
    cur = root
    for part in folder.relative_to(root).parts:
        cur = cur / part
        if os.path.islink(cur):
            raise InputError(f"{archive}: member {name!r} passes through the symlink {cur.relative_to(root)}; "
                             "refusing to extract the archive")
        if not cur.is_dir():
            cur.mkdir()


def _make_symlink(archive: Path, root: Path, name: str, target: Path, link: str) -> None:
    """Create a symlink member, checking where it *really* points once its parent exists."""
    where = _writable_target(archive, root, name, target)
    if link.startswith("/") or not _inside(where.parent / link, root):
        raise InputError(f"{archive}: symlink {name!r} → {link!r} resolves outside {root}; refusing to extract "
                         "the archive")
    os.symlink(link, where)


def _check_final_links(archive: Path, root: Path) -> None:
    """After unpacking: every symlink under `root` must resolve inside it (a link may point at a
    member written after it, so its real target is only known now)."""
    for folder, dirs, files in os.walk(root):
        for entry in dirs + files:
            p = Path(folder) / entry
            if p.is_symlink() and not _inside(p, root):
                raise InputError(f"{archive}: symlink {p.relative_to(root)} → {os.readlink(p)!r} resolves outside "
                                 "the destination; refusing to extract the archive")


def safe_extract(archive: Path, dest: Path, strip: int = 0) -> list[Path]:
    """Unpack a zip or tar archive into `dest` (created), refusing anything that escapes it.

    Member names and link targets are checked first (absolute paths, `..`, devices, members that
    pass through a symlink member: refused before anything is written). The archive is then
    unpacked into a temporary folder inside `dest`, where every write checks the *real* parent
    folder of its target (so no chain of symlinks can lead outside), and the files are moved into
    place one by one (merged into existing folders, replacing same-named files, never deleting
    anything else) only when all members are written: a refused or killed extraction leaves
    nothing under `dest` but the temporary folder, which the next attempt removes. Returns the
    top-level entries written.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.glob(f".tmp-extract-{archive.name}-*"):  # a killed earlier attempt
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-extract-{archive.name}-", dir=dest))
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, tmp, strip)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, tmp, strip)
        else:
            raise InputError(f"{archive}: not a zip or tar archive")
        _check_final_links(archive, tmp)
        top = sorted(dest / entry.name for entry in tmp.iterdir())
        _merge_into(tmp, dest)
        return top
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _merge_into(src: Path, dest: Path) -> None:
    for entry in sorted(src.iterdir()):
        final = dest / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if final.is_symlink() or (final.exists() and not final.is_dir()):
                final.unlink()
            final.mkdir(exist_ok=True)
            _merge_into(entry, final)
        else:
            if final.is_dir() and not final.is_symlink():
                shutil.rmtree(final)
            os.replace(entry, final)


def _extract_zip(archive: Path, dest: Path, strip: int) -> None:
    with zipfile.ZipFile(archive) as zf:
        plan = []
        for info in zf.infolist():
            target = _member_target(dest, info.filename, strip, archive)
            mode = info.external_attr >> 16
            link = zf.read(info).decode("utf-8") if stat.S_ISLNK(mode) else None
            if target is not None and link is not None:
                _check_link(archive, dest, info.filename, target, link, hard=False)
            plan.append((info, target, link))
        _refuse_paths_through_links(archive, [(i.filename, t, lk is not None) for i, t, lk in plan])
        for info, target, link in plan:
            if target is None:
                continue
            _mkdirs(archive, dest, info.filename, target if info.is_dir() else target.parent)
            if info.is_dir():
                continue
            if link is not None:
                _make_symlink(archive, dest, info.filename, target, link)
            else:
                where = _writable_target(archive, dest, info.filename, target)
                with zf.open(info) as src, open(where, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)


def _extract_tar(archive: Path, dest: Path, strip: int) -> None:
    with tarfile.open(archive) as tf:
        plan = []
        for m in tf.getmembers():
            target = _member_target(dest, m.name, strip, archive)
            if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                raise InputError(f"{archive}: member {m.name!r} is a device or FIFO; refusing to extract the archive")
            if target is None:
                continue
            if m.issym():
                _check_link(archive, dest, m.name, target, m.linkname, hard=False)
            if m.islnk():
                link_target = _member_target(dest, m.linkname, strip, archive)
                if link_target is None:
                    raise InputError(f"{archive}: hard link {m.name!r} → {m.linkname!r} is stripped away")
                _check_link(archive, dest, m.name, target, str(link_target.relative_to(dest)), hard=True)
            plan.append((m, target))
        _refuse_paths_through_links(archive, [(m.name, t, m.issym()) for m, t in plan])
        for m, target in plan:
            _mkdirs(archive, dest, m.name, target if m.isdir() else target.parent)
            if m.isdir():
                continue
            if m.issym():
                _make_symlink(archive, dest, m.name, target, m.linkname)
            elif m.islnk():
                source = _member_target(dest, m.linkname, strip, archive)
                assert source is not None  # checked in the plan
                if os.path.islink(source) or not _inside(source, dest):
                    raise InputError(f"{archive}: hard link {m.name!r} → {m.linkname!r} resolves outside {dest}; "
                                     "refusing to extract the archive")
                os.link(source, _writable_target(archive, dest, m.name, target), follow_symlinks=False)
            else:
                src = tf.extractfile(m)
                assert src is not None
                where = _writable_target(archive, dest, m.name, target)
                with src, open(where, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
                os.chmod(where, 0o644 | (m.mode & 0o111))


# ---------------------------------------------------------------------------------------------
# Fetching


@dataclass
class FetchReport:
    dest: Path
    downloaded: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    extracted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    bytes_downloaded: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def _existing_copy(dest: Path, source: Source) -> Path | None:
    """A file at the source's path (or a compressed sibling) whose content has the right checksum."""
    if source.store:
        stored = dest / source.path
        return stored if stored.is_file() and sha256_of(stored, source.store) == source.sha256 else None
    base = dest / source.path
    suffixes = ("",) if source.extract else ("", *COMPRESSED_VARIANTS)
    for suffix in suffixes:
        cand = base.with_name(base.name + suffix)
        if cand.is_file() and sha256_of(cand, suffix) == source.sha256:
            return cand
    return None


def _locations(source: Source, mirror: str | None) -> Iterator[tuple[str, str]]:
    """(location, suffix) pairs to try: the mirror's copy (plain, then compressed), or the canonical URL."""
    if mirror is None:
        yield source.url, ""
        return
    if source.store:  # a mirror of a data root holds the compressed file at `path`
        yield (_join_url(mirror, source.path) if _is_url(mirror) else str(Path(mirror) / source.path)), source.store
        return
    suffixes = ("",) if source.extract else ("", *COMPRESSED_VARIANTS)
    for suffix in suffixes:
        rel = source.path + suffix
        yield (_join_url(mirror, rel) if _is_url(mirror) else str(Path(mirror) / rel)), suffix


def _fetch_one(source: Source, dest: Path, mirror: str | None, retries: int, timeout: float,
               progress: bool, max_bytes: int | None = None) -> tuple[Path, int]:
    tried = []
    for location, suffix in _locations(source, mirror):
        final = dest / source.path if source.store else dest / (source.path + suffix)
        part = final.with_name(final.name + ".part")
        cap = size_cap(source, bool(suffix), max_bytes)
        if _is_url(location):
            fetched = False
            for attempt in range(1, retries + 1):
                try:
                    download(location, part, timeout=timeout, progress=progress,
                             total=source.size if not suffix else None, max_bytes=cap)
                    fetched = True
                    break
                except HTTPStatusError as e:
                    if e.code == 404:
                        break
                    if attempt == retries:
                        raise
                except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as e:
                    if attempt == retries:
                        raise OSError(f"{location}: {e}; re-run to resume from {part}") from None
                    time.sleep(min(2 ** attempt, 10))
            if not fetched:
                tried.append(location)
                continue
        else:
            if not Path(location).is_file():
                tried.append(location)
                continue
            if Path(location).stat().st_size > cap:
                raise TooLargeError(f"{location}: {Path(location).stat().st_size:,} bytes, more than the size cap "
                                    f"{cap:,} of source {source.name}; refused")
            part.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(location, part)
        got = sha256_of(part, suffix)
        if got != source.sha256:
            part.unlink()
            raise InputError(f"{source.name}: checksum mismatch for {location}: expected sha256 {source.sha256}, "
                             f"got {got}; the partial download was removed")
        size = part.stat().st_size
        if source.store and suffix != source.store:
            _compress(part, final, source.store)
            part.unlink()
        else:
            os.replace(part, final)
        return final, size
    raise FileNotFoundError(f"{source.name}: not found at {'; '.join(tried)}")


def _compress(plain: Path, final: Path, store: str) -> None:
    """Write `plain` compressed to `final`, atomically (a killed run leaves no half-written `final`)."""
    opener: Any = {".xz": lzma.open, ".gz": gzip.open}[store]
    with atomic_path(final) as tmp, open(plain, "rb") as src, opener(tmp, "wb") as out:
        shutil.copyfileobj(src, out, CHUNK)


def _extract_marker(dest: Path, source: Source) -> Path:
    return dest / (source.path + ".extracted")


def fetch(specs: Sequence[str] | None = None, dest: str | os.PathLike = "data", mirror: str | None = None,
          *, sources: Iterable[Source] | None = None, extract: bool = True, retries: int = 3,
          timeout: float = 60.0, progress: bool = False, max_bytes: int | None = None) -> FetchReport:
    """Fetch the sources of the given tasks (all when none) into `dest`; re-runs skip finished work.

    Errors of one source don't stop the others; they are collected in `report.failed`.
    """
    dest_p = Path(dest)
    dest_p.mkdir(parents=True, exist_ok=True)
    chosen = list(sources) if sources is not None else select_sources(load_manifest(), specs)
    report = FetchReport(dest=dest_p)
    for source in chosen:
        try:
            have = _existing_copy(dest_p, source)
            if have is not None:
                report.present.append(source.name)
            else:
                have, size = _fetch_one(source, dest_p, mirror, retries, timeout, progress, max_bytes)
                report.downloaded.append(source.name)
                report.bytes_downloaded += size
            if extract and source.extract is not None:
                marker = _extract_marker(dest_p, source)
                if not (marker.is_file() and marker.read_text().strip() == source.sha256):
                    to = dest_p / (source.extract.get("to") or "")
                    safe_extract(have, to, int(source.extract.get("strip", 0)))
                    marker.write_text(source.sha256 + "\n")
                    report.extracted.append(source.name)
        except (OSError, ValueError, tarfile.TarError, zipfile.BadZipFile, lzma.LZMAError, EOFError,
                http.client.HTTPException) as e:
            report.failed.append((source.name, str(e)))
    return report


# ---------------------------------------------------------------------------------------------
# CLI: the `xling data` group


def register(subparsers: Any) -> None:
    data = subparsers.add_parser("data", help="download public evaluation data and pretraining inputs")
    sub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    p = sub.add_parser("fetch", help="download task data from canonical sources or a mirror, with checksums",
                       description="Download the public data of XTREME tasks and the Uyghur/Kazakh suite, and (--pretrain) "
                       "the pretraining inputs of the shipped recipes. "
                       "Files are checked against sha256 sums, downloads resume, archives are unpacked "
                       "safely. TASK may be `task:l1+l2` to limit languages.")
    p.add_argument("tasks", nargs="*", metavar="TASK", help="tasks to fetch (default: all with public sources, "
                   "unless --pretrain is given)")
    p.add_argument("--pretrain", action="append", default=[], metavar="LIST",
                   help="also fetch the pretraining inputs of a shipped recipe (demo, cpu-long, xobj, ...; "
                   "`--list --pretrain all` shows them); repeatable")
    p.add_argument("--with-eval", action="store_true",
                   help="with --pretrain: also the evaluation data of the recipe's eval tasks (its eval stage and "
                   "decontamination read them)")
    p.add_argument("--mirror", default=os.environ.get("XLING_MIRROR") or None,
                   help="folder or http(s) base URL holding the files at the same relative paths, e.g. a copy "
                   "of a data root (default: $XLING_MIRROR, else each source's canonical URL)")
    p.add_argument("--dest", help="destination data root (default: $XLING_DATA, else ./data)")
    p.add_argument("--list", action="store_true", help="list the sources (and whether DEST has them) and exit")
    p.add_argument("--no-extract", action="store_true", help="download archives but do not unpack them")
    p.add_argument("--retries", type=int, default=3, help="attempts per file on network errors")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--max-bytes", type=int, default=None,
                   help="size cap per download in bytes (default: each source's size in the manifest)")
    p.set_defaults(func=_cmd_fetch)


def _default_dest() -> Path:
    env = os.environ.get("XLING_DATA")
    return Path(env) if env else Path("data")


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def select_pretrain(lists: Sequence[str], with_eval: bool = False,
                    eval_manifest: Manifest | None = None) -> tuple[list[Source], list[str], list[str]]:
    """Sources of the named pretraining lists (`all`: every list), the evaluation task specs they
    add with `with_eval` (only those with public sources), and notes on what cannot be fetched."""
    pm = load_manifest(PRETRAIN_MANIFEST_PATH)
    names = sorted(pm.lists) if "all" in lists else list(dict.fromkeys(lists))
    for name in names:
        if name not in pm.lists:
            close = difflib.get_close_matches(name, list(pm.lists), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise InputError(f"--pretrain {name}: no such list.{hint} Lists: {', '.join(sorted(pm.lists))}")
    sources = select_sources(pm, names)
    notes = [f"{name}: {pm.manual[name]}" for name in names if name in pm.manual]
    specs: list[str] = []
    if with_eval:
        em = eval_manifest or load_manifest()
        known = {t for s in em.sources for t in s.tasks}
        for name in names:
            for spec in pm.lists[name].get("eval_tasks", []):
                if spec.partition(":")[0] in known:
                    specs.append(spec)
                elif spec not in specs:
                    notes.append(f"{name}: evaluation task {spec} has no public source in the manifest; "
                                 "its evaluation needs the data root")
    return sources, list(dict.fromkeys(specs)), list(dict.fromkeys(notes))


def _cmd_fetch(args: argparse.Namespace) -> int:
    if args.max_bytes is not None and args.max_bytes <= 0:
        raise InputError(f"--max-bytes: must be a positive number of bytes, got {args.max_bytes}")
    if args.with_eval and not args.pretrain:
        raise InputError("--with-eval: only with --pretrain LIST (it adds that recipe's evaluation tasks)")
    manifest = load_manifest()
    notes: list[str] = []
    if args.pretrain:
        chosen, eval_specs, notes = select_pretrain(args.pretrain, args.with_eval, manifest)
        specs = list(args.tasks) + eval_specs
        if specs:
            have = {s.name for s in chosen}
            chosen += [s for s in select_sources(manifest, specs) if s.name not in have]
    else:
        chosen = select_sources(manifest, args.tasks)
    dest = Path(args.dest) if args.dest else _default_dest()
    if args.list:
        def stored(s: Source) -> str:
            # A quick look (no checksum): the file or a compressed copy of it.
            return "yes" if any((dest / (s.path + x)).exists() for x in ("", *COMPRESSED_VARIANTS)) else ""

        rows = [[s.name, ",".join(s.tasks), s.lang or "", s.path, _human(s.size), stored(s)] for s in chosen]
        print(markdown_table(["source", "tasks", "lang", "path", "size", f"in {dest}"], rows))
        asked = {spec.partition(":")[0] for spec in args.tasks}
        for task, how in sorted(manifest.manual.items()):
            if (not asked and not args.pretrain) or task in asked:
                print(f"\nmanual: {task}: {how}")
        for note in notes:
            print(f"\nmanual: {note}")
        return 0
    total = sum(s.size for s in chosen)
    print(f"fetching {len(chosen)} sources ({_human(total)}) into {dest}"
          + (f" from mirror {args.mirror}" if args.mirror else " from their canonical URLs"))
    rep = fetch(dest=dest, mirror=args.mirror, sources=chosen, extract=not args.no_extract,
                retries=args.retries, progress=not args.quiet, max_bytes=args.max_bytes)
    print(f"wrote to {rep.dest}: {len(rep.downloaded)} downloaded ({_human(rep.bytes_downloaded)}), "
          f"{len(rep.present)} already present, {len(rep.extracted)} unpacked, {len(rep.failed)} failed")
    for name, err in rep.failed:
        print(f"  FAILED {name}: {err}")
    for note in notes:
        print(f"  not fetched: {note}")
    if rep.ok and not args.dest and not os.environ.get("XLING_DATA"):
        print(f"point the evaluation at it with: export XLING_DATA={dest.resolve()}")
    return 0 if rep.ok else 1
