"""Per-language vocabulary statistics: fertility, `<unk>`/byte-fallback shares, characters per piece,
alphabet coverage — as JSON, a Markdown table and a PNG.

Definitions (all over the whole input of a language, not averaged per line):
- fertility = pieces / whitespace-separated words (`str.split()`), the measure used by Rust et al. 2021
  and Glot500; a lone `▁` piece counts as a piece.
- unk_share, byte_share = `<unk>` pieces / pieces, byte-fallback pieces (`<0xNN>`) / pieces.
- chars_per_piece = non-whitespace characters / pieces.
- alphabet_coverage = share of the language's lower-case letters (`vocab.alphabets`) that exist as a
  one-character piece (the piece string equals the letter; `▁x` does not count).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from corpora.corpus import corpus_inputs
from vocab.alphabets import alphabet
from vocab.export import SPM_FILE
from vocab.lines import lines_by_lang
from xling.core.io import write_json_atomic, write_text_atomic
from xling.core.report import bar_chart, markdown_table


@dataclass
class LangStats:
    lang: str
    lines: int
    words: int
    pieces: int
    chars: int
    unk: int
    byte: int
    fertility: float
    unk_share: float
    byte_share: float
    chars_per_piece: float
    alphabet_size: int | None = None
    alphabet_covered: int | None = None
    alphabet_coverage: float | None = None
    missing_letters: list[str] = field(default_factory=list)


def model_file_of(path: str | os.PathLike) -> Path:
    """Accept a vocabulary folder (holding `sentencepiece.bpe.model`) or the `.model` file itself."""
    p = Path(path)
    if p.is_dir():
        p = p / SPM_FILE
    if not p.is_file():
        raise FileNotFoundError(f"no SentencePiece model at {p} (expected a vocab folder with {SPM_FILE})")
    return p


def load_processor(path: str | os.PathLike) -> Any:
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=str(model_file_of(path)))


def language_stats(sp_or_path: Any, lang: str, lines: Sequence[str], num_threads: int = 2) -> LangStats:
    """Statistics of one language's lines under a SentencePiece model (processor or vocab folder)."""
    sp = load_processor(sp_or_path) if isinstance(sp_or_path, (str, os.PathLike)) else sp_or_path
    ids = sp.encode(list(lines), num_threads=num_threads) if lines else []
    pieces = sum(len(x) for x in ids)
    unk = sum(1 for x in ids for i in x if sp.is_unknown(i))
    byte = sum(1 for x in ids for i in x if sp.is_byte(i))
    words = sum(len(line.split()) for line in lines)
    chars = sum(len("".join(line.split())) for line in lines)
    st = LangStats(lang=lang, lines=len(lines), words=words, pieces=pieces, chars=chars, unk=unk, byte=byte,
                   fertility=pieces / words if words else 0.0, unk_share=unk / pieces if pieces else 0.0,
                   byte_share=byte / pieces if pieces else 0.0,
                   chars_per_piece=chars / pieces if pieces else 0.0)
    letters = alphabet(lang)
    if letters is not None:
        singles = {sp.id_to_piece(i) for i in range(sp.get_piece_size())
                   if len(sp.id_to_piece(i)) == 1 and not (sp.is_control(i) or sp.is_unknown(i)
                                                           or sp.is_byte(i) or sp.is_unused(i))}
        missing = [c for c in letters if c not in singles]
        st.alphabet_size = len(letters)
        st.alphabet_covered = len(letters) - len(missing)
        st.alphabet_coverage = st.alphabet_covered / len(letters)
        st.missing_letters = missing
    return st


def compute_stats(model: str | os.PathLike, texts: Mapping[str, Sequence[str]]) -> dict[str, LangStats]:
    """{lang: LangStats} for in-memory lines per language."""
    sp = load_processor(model)
    return {lang: language_stats(sp, lang, lines) for lang, lines in sorted(texts.items())}


def stats_for_inputs(model: str | os.PathLike, specs: list[str], max_lines: int | None = 5000
                     ) -> dict[str, LangStats]:
    """Statistics over the first `max_lines` lines per language of corpus folders / `LANG=file` inputs."""
    return compute_stats(model, lines_by_lang(corpus_inputs(specs), max_lines))


HEADERS = ["lang", "lines", "words", "pieces", "fertility", "unk %", "byte %", "chars/piece", "alphabet"]


def stats_rows(stats: Mapping[str, LangStats]) -> list[list[Any]]:
    rows = []
    for s in stats.values():
        alpha = "" if s.alphabet_size is None else f"{s.alphabet_covered}/{s.alphabet_size}"
        rows.append([s.lang, s.lines, s.words, s.pieces, s.fertility, 100 * s.unk_share, 100 * s.byte_share,
                     s.chars_per_piece, alpha])
    return rows


def stats_markdown(stats: Mapping[str, LangStats]) -> str:
    table = markdown_table(HEADERS, stats_rows(stats))
    missing = [f"- {s.lang}: {' '.join(s.missing_letters)}" for s in stats.values() if s.missing_letters]
    if missing:
        table += "\n\nLetters with no single-character piece:\n" + "\n".join(missing)
    return table


def write_stats(stats: Mapping[str, LangStats], out_dir: str | os.PathLike, name: str = "stats",
                title: str = "Fertility (pieces per word)",
                compare: Mapping[str, Mapping[str, LangStats]] | None = None, label: str = "fertility"
                ) -> dict[str, Path]:
    """Write `<name>.json`, `<name>.md` and `<name>_fertility.png`; `compare` adds bar series
    (e.g. {"base": stats_before}) to the plot, next to these stats drawn as `label`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": write_json_atomic(out / f"{name}.json", {k: asdict(v) for k, v in stats.items()}),
        "md": write_text_atomic(out / f"{name}.md", stats_markdown(stats) + "\n"),
    }
    series: dict[str, dict[str, float]] = {}
    for label, other in (compare or {}).items():
        series[label] = {k: v.fertility for k, v in other.items()}
    series[label] = {k: v.fertility for k, v in stats.items()}
    paths["png"] = bar_chart(out / f"{name}_fertility.png", series, title=title, ylabel="pieces per word")
    return paths
