"""Vocabulary-training text as lines: the files `corpora.corpus.corpus_inputs` resolves → lines per language.

A "sentence" here is one non-empty line of a document (cleaned documents keep paragraph breaks as
newlines; SentencePiece trains on lines, so that is the natural unit to sample).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from corpora.corpus import iter_documents
from xling.core.errors import InputError


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
