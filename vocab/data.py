"""Reading vocabulary-training text: corpus folders or `LANG=file` specs → lines per language.

A "sentence" here is one non-empty line of a document (cleaned documents keep paragraph breaks as
newlines; SentencePiece trains on lines, so that is the natural unit to sample).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from corpora.corpus import corpus_inputs, iter_documents
from xling.errors import InputError


def resolve_inputs(specs: list[str]) -> dict[str, list[Path]]:
    """{lang: files} for CLI inputs; errors name the bad spec (unknown folder names, missing files)."""
    if not specs:
        raise InputError("no inputs given: pass corpus folders or LANG=file (e.g. kaz_Cyrl=kk.txt)")
    out = corpus_inputs(specs)
    if not out:
        raise InputError(f"no language data found in {', '.join(specs)}")
    return out


def iter_lines(files: list[Path], counts: Counter | None = None) -> Iterator[str]:
    """Non-empty, stripped lines of every document in `files`. Damaged input (invalid UTF-8,
    over-long lines, malformed JSON, truncated compression) is skipped and counted in `counts`
    (or logged when not given), as `corpora.corpus.iter_docs` does for every stage."""
    for doc in iter_documents(files, counts):
        for line in doc["text"].split("\n"):
            line = line.strip()
            if line:
                yield line


def count_lines(files: list[Path]) -> int:
    return sum(1 for _ in iter_lines(files))


def lines_by_lang(inputs: dict[str, list[Path]], max_lines: int | None = None) -> dict[str, list[str]]:
    """Up to `max_lines` first lines per language; a language with no text is an error."""
    out: dict[str, list[str]] = {}
    for lang, files in sorted(inputs.items()):
        lines: list[str] = []
        for line in iter_lines(files):
            lines.append(line)
            if max_lines is not None and len(lines) >= max_lines:
                break
        if not lines:
            raise InputError(f"{lang}: no text in {', '.join(os.fspath(f) for f in files)} (empty input)")
        out[lang] = lines
    return out
