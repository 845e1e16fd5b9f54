"""`xling corpora identify [FILE|-] [--lid ...]`: print `<lang>\\t<score>` for every input line."""

from __future__ import annotations

import argparse
import gzip
import lzma
import sys
import zlib
from pathlib import Path

from xling.errors import InputError


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "identify", help="language+script of each input line (<lang>\\t<score>)",
        description="Print `<lang>\\t<score>` (e.g. `kaz_Cyrl\\t0.98`) for each line of FILE (or stdin). "
                    "Lines without letters print `und_Zyyy\\t0.0`.")
    p.add_argument("file", nargs="?", default="-", help="text file (.gz/.xz/.bz2 fine) or - for stdin")
    p.add_argument("--lid", default="fasttext", help="LID backend: fasttext (default) or langid")
    p.add_argument("--languages", nargs="+", default=(), metavar="LANG",
                   help="restrict the model to these languages (e.g. kaz uig rus eng)")
    p.add_argument("--normalize", action="store_true", help="normalise each line first (as `clean` does)")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    from corpora.lid import LanguageIdentifier
    from corpora.normalize import normalize_text
    from xling.io import open_text

    if args.file != "-" and Path(args.file).is_dir():
        raise InputError(f"{args.file} is a folder; identify reads one text file (or - for stdin)")
    stream = sys.stdin if args.file == "-" else open_text(args.file, errors="replace")
    lid = LanguageIdentifier(args.lid, args.languages)  # after the input checks: loading a model takes seconds
    out = sys.stdout
    lineno = 0
    with stream if stream is not sys.stdin else _nullcontext(stream):
        try:
            for lineno, line in enumerate(stream, 1):  # noqa: B007 (lineno names the failing line)
                text = line.rstrip("\r\n")
                if args.normalize:
                    text = normalize_text(text)
                res = lid.identify(text)
                out.write(f"{res.lang}\t{res.score:.4f}\n")
        except (EOFError, lzma.LZMAError, zlib.error, gzip.BadGzipFile) as e:
            out.flush()
            raise InputError(f"{args.file}: cannot decompress after line {lineno} ({type(e).__name__}: {e}); "
                             "the file is truncated or corrupt") from None
    return 0


class _nullcontext:  # stdin must not be closed by the with-block
    def __init__(self, obj) -> None:
        self.obj = obj

    def __enter__(self):
        return self.obj

    def __exit__(self, *exc) -> None:
        return None
