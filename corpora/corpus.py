"""Reading a cleaned corpus back: the on-disk layout every later stage consumes.

Layout written by `xling corpora clean` / `mix`:  `ROOT/kept/<lang>/*.jsonl.gz` or `ROOT/<lang>/*.jsonl.gz`,
one JSON object per line with at least `text` and `lang` (ISO 639-3 + script, e.g. `kaz_Cyrl`).
Plain text files can be given as `LANG=PATH` (one document per line).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from xling.errors import InputError
from xling.io import open_text, read_jsonl

LANG_RE = re.compile(r"^[a-z]{2,3}_[A-Z][a-z]{3}$")  # kaz_Cyrl, uig_Arab, eng_Latn
_SHARD_SUFFIXES = (".jsonl.gz", ".jsonl", ".jsonl.xz")


def is_lang_code(name: str) -> bool:
    return bool(LANG_RE.match(name))


def find_language_shards(path: str | os.PathLike) -> dict[str, list[Path]]:
    """{lang: sorted shard files} for a corpus folder (`kept/<lang>/` or `<lang>/` layout)."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder {root} does not exist")
    base = root / "kept" if (root / "kept").is_dir() else root
    out: dict[str, list[Path]] = {}
    for sub in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in sub.iterdir() if f.name.endswith(_SHARD_SUFFIXES) and not f.name.startswith("."))
        if files:
            if not is_lang_code(sub.name):
                raise InputError(f"{sub}: folder name {sub.name!r} is not a language code like kaz_Cyrl")
            out[sub.name] = files
    if not out:
        raise InputError(f"{root}: no language folders with *.jsonl.gz shards (expected {base}/<lang>/*.jsonl.gz)")
    return out


def parse_input_spec(spec: str) -> tuple[str | None, Path]:
    """`kaz_Cyrl=path/to/file.txt` → ("kaz_Cyrl", path); a bare path → (None, path)."""
    if "=" in spec:
        lang, _, p = spec.partition("=")
        if not is_lang_code(lang):
            raise InputError(f"{spec!r}: {lang!r} is not a language code like kaz_Cyrl")
        return lang, Path(p)
    return None, Path(spec)


def iter_documents(files: list[Path]) -> Iterator[dict]:
    """Documents from shard files (JSON lines) or plain text files (one document per line)."""
    for f in files:
        if f.name.endswith(_SHARD_SUFFIXES):
            yield from read_jsonl(f)
        else:
            with open_text(f) as fh:
                for line in fh:
                    line = line.strip()
                    if line:
                        yield {"text": line}


def corpus_inputs(specs: list[str]) -> dict[str, list[Path]]:
    """Resolve CLI inputs (corpus folders and/or `LANG=file` specs) to {lang: files}."""
    out: dict[str, list[Path]] = {}
    for spec in specs:
        lang, path = parse_input_spec(spec)
        if lang is None:
            for lg, files in find_language_shards(path).items():
                out.setdefault(lg, []).extend(files)
        else:
            if not path.is_file():
                raise FileNotFoundError(f"{spec}: {path} is not a file")
            out.setdefault(lang, []).append(path)
    return out
