"""Reading a cleaned corpus back: the on-disk layout every later stage consumes.

Layout written by `xling corpora clean` / `mix`:  `ROOT/kept/<lang>/*.jsonl.gz` or `ROOT/<lang>/*.jsonl.gz`,
one JSON object per line with at least `text` and `lang` (ISO 639-3 + script, e.g. `kaz_Cyrl`).
Plain text files can be given as `LANG=PATH` (one document per line).

Every later stage (dedup, decontaminate, mix, vocab, pretraining data) reads its inputs through
`iter_docs`, so damaged input is handled the way `clean` handles it: a `LANG=file` input is sniffed
before any work (Parquet, binary and non-UTF-8 files are refused with a message), and while
reading, invalid UTF-8, over-long lines (`max_line_bytes`, which bounds memory), malformed JSON
and truncated or corrupt compression are skipped and counted by reason, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from corpora.rawio import COMPRESSION_ERRORS, iter_raw_lines, open_binary, strip_compression
from xling.core.errors import InputError
from xling.core.paths import resolve_data_path, split_column

log = logging.getLogger(__name__)

LANG_RE = re.compile(r"^[a-z]{2,3}_[A-Z][a-z]{3}$")  # kaz_Cyrl, uig_Arab, eng_Latn
_SHARD_SUFFIXES = (".jsonl.gz", ".jsonl", ".jsonl.xz")
MAX_LINE_BYTES = 1 << 20  # longest line (= document of a text file, or JSON line) read; longer ones are counted
_SNIFF_BYTES = 1 << 16


def is_lang_code(name: str) -> bool:
    return bool(LANG_RE.match(name))


def find_language_shards(path: str | os.PathLike) -> dict[str, list[Path]]:
    """{lang: sorted shard files} for a corpus folder (`kept/<lang>/` or `<lang>/` layout)."""
    root = Path(path)
    if root.is_file():
        raise InputError(f"{root} is a file, not a corpus folder; give a text file with its language, "
                         f"e.g. kaz_Cyrl={root}")
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


class NotTextError(InputError):
    """A file that is not text at all (Parquet, binary, another encoding than UTF-8)."""


def sniff_text_input(path: Path, spec: str = "", web_archives: bool = True) -> None:
    """Refuse a `LANG=file` input that is not (compressed) UTF-8 text or JSON lines, before any work;
    with `web_archives=False` also WARC/WET/ARC files (their headers would become documents)."""
    where = spec or str(path)
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:4] == b"PAR1":
        raise NotTextError(f"{where}: a Parquet file; LANG=file inputs are text or JSON lines — run "
                         "`xling corpora clean` on it (it reads Parquet's text column)")
    for suffix, expected in ((".gz", b"\x1f\x8b"), (".xz", b"\xfd7zXZ\x00")):
        if path.name.endswith(suffix) and magic and not magic.startswith(expected):
            raise InputError(f"{where}: cannot read: named {suffix} but not {suffix[1:]}-compressed data")
    lost: list[str] = []
    try:
        with open_binary(path, on_bad=lambda reason, at, detail: lost.append(detail)) as f:
            head = f.read(_SNIFF_BYTES)
    except COMPRESSION_ERRORS as e:
        head = b""
        lost.append(str(e))
    if not web_archives and head.startswith((b"WARC/1.", b"filedesc://")):
        raise NotTextError(f"{where}: a web archive (WARC/WET/ARC), not text; run `xling corpora clean` on it "
                           "to extract its documents")
    if not head and lost:
        raise InputError(f"{where}: cannot read: decompression fails at the start ({lost[0]})")
    if b"\x00" in head or (head and sum(b < 32 and b not in (9, 10, 12, 13) for b in head) > len(head) // 20):
        raise NotTextError(f"{where}: a binary file (control bytes in its first {len(head):,} bytes), not text")
    complete = head[: head.rfind(b"\n") + 1] or head  # do not judge a character cut at the sniff limit
    lines = [ln for ln in complete.split(b"\n") if ln.strip()]
    bad = 0
    for ln in lines:
        try:
            ln.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
    if lines and bad * 2 > len(lines):
        raise NotTextError(f"{where}: not UTF-8 text ({bad} of its first {len(lines)} lines are not); "
                         "convert it, e.g. `iconv -f cp1251 -t utf-8`")


def is_tsv_name(path: str | os.PathLike) -> bool:
    """A tab-separated text file by its name (`x.tsv`, `x.tsv.gz`, `x.tsv.xz`, `x.tsv.bz2`)."""
    return strip_compression(Path(path).name.lower()).endswith(".tsv")


TAB = "\t"


def tsv_cell(line: str, column: int) -> str | None:
    """Column `column` (1-based; 0 = the last) of a tab-separated line; None when the line has fewer."""
    cells = line.split(TAB)
    return None if column > len(cells) else cells[column - 1 if column else -1]


def iter_docs(files: list[Path], lang: str | None, counts: Counter, max_line_bytes: int = MAX_LINE_BYTES
              ) -> Iterator[dict]:
    """Documents of `files`: JSON-lines shards (`text` field) or text files (one document per line).
    A tab-separated file (`*.tsv*`, or one named `file#N`) gives one column of each line as the
    document: column N (1-based) when named, else the last, as `corpora clean` reads it.

    Skipped and counted in `counts`: `malformed_json`, `missing_text`, `invalid_utf8`,
    `line_too_long`, `broken_compression` (a truncated file keeps what came before the damage; a
    corrupt gzip member is skipped and the members after it are read), `missing_tsv_column`.
    """

    def bad(reason: str, where: str, detail: str) -> None:
        counts[reason] += 1
        if counts[reason] <= 3:
            log.warning("%s: skipped (%s) %s", where, reason, detail)

    for f in files:
        src, column = split_column(f)
        is_jsonl = f.name.endswith(_SHARD_SUFFIXES)
        tsv = bool(column) or is_tsv_name(src)
        with open_binary(src, on_bad=bad) as fh:
            for lineno, line in iter_raw_lines(fh, str(f), max_line_bytes, bad):
                if not line.strip():
                    continue
                if not is_jsonl:
                    if tsv:
                        cell = tsv_cell(line, column)
                        if cell is None:
                            bad("missing_tsv_column", f"{f}:{lineno}",
                                f"(column {column} of a line with {line.count(TAB) + 1})")
                            continue
                        line = cell
                        if not line.strip():
                            counts["empty_text"] += 1
                            continue
                    doc = {"id": f"{f.name}:{lineno}", "text": line.strip(), "source": f.name}
                    if lang:
                        doc["lang"] = lang
                    yield doc
                    continue
                try:
                    doc = json.loads(line)
                except (json.JSONDecodeError, RecursionError):  # deeply nested junk overflows the parser
                    counts["malformed_json"] += 1
                    continue
                if not isinstance(doc, dict):
                    counts["malformed_json"] += 1
                    continue
                text = doc.get("text")
                if not isinstance(text, str) or not text.strip():
                    counts["missing_text"] += 1
                    continue
                doc.setdefault("id", f"{f.name}:{lineno}")
                if lang:
                    doc.setdefault("lang", lang)
                yield doc


def iter_documents(files: list[Path], counts: Counter | None = None) -> Iterator[dict]:
    """Documents from shard files (JSON lines) or plain text files (one document per line); damaged
    input is skipped and counted (in `counts` when given, else logged) — see `iter_docs`."""
    own = counts if counts is not None else Counter()
    yield from iter_docs(files, None, own)
    if counts is None and own:
        log.warning("skipped in %s: %s", ", ".join(map(str, files)), ", ".join(f"{k}={v}" for k, v in own.items()))


def text_input(path: str | os.PathLike, spec: str = "") -> Path:
    """A `LANG=file` input's file, checked (it exists and is text): `file.tsv#N` stays written so, the
    column going along with the path to every reader (`iter_docs`) and fingerprint."""
    path = resolve_data_path(path)
    src = split_column(path)[0]
    if not src.is_file():
        raise FileNotFoundError(f"{spec or path}: {src} is not a file")
    sniff_text_input(src, spec, web_archives=False)
    return path


def corpus_inputs(specs: Iterable[str | os.PathLike]) -> dict[str, list[Path]]:
    """The one way from inputs to files: corpus folders and/or `LANG=file` specs (paths may start with
    `$XLING_DATA/`) → {lang: files}, sorted by language; no inputs, or no language data, is an error."""
    specs = [str(s) for s in specs]
    if not specs:
        raise ValueError("no inputs given: pass corpus folders or LANG=file (e.g. kaz_Cyrl=kk.txt)")
    out: dict[str, list[Path]] = {}
    for spec in specs:
        lang, path = parse_input_spec(spec)
        path = resolve_data_path(path)
        if lang is None:
            for lg, files in find_language_shards(path).items():
                out.setdefault(lg, []).extend(files)
        else:
            if path.is_dir():
                raise InputError(f"{spec}: {path} is a folder; give a corpus folder without LANG= "
                                 "(its kept/<lang>/ folders name the languages) or a text file")
            out.setdefault(lang, []).append(text_input(path, spec))
    if not out:
        raise ValueError(f"no language data found in {', '.join(specs)}")
    return dict(sorted(out.items()))
