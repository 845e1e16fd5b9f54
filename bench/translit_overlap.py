"""Subword overlap between languages with and without the Latin transliteration view (docs/experiments.md).

    PYTHONPATH=. XLING_DATA=/work/shared/data .venv/bin/python bench/translit_overlap.py [--lines 3000] [--vocab 8000]

For each setting (`none`; `view`: ug → ULY and kk → 2021 Latin) one SentencePiece unigram model is
trained on the same balanced sample of pretraining-safe text (ug, kk, tr, en, ru; `--lines` each),
then every language's sample is segmented and, for each pair of languages A/B, two numbers reported:

- `type Jaccard`: |pieces(A) ∩ pieces(B)| / |pieces(A) ∪ pieces(B)|;
- `A tokens in B`: the share of A's subword tokens whose piece also occurs in B's text (how much of
  A an embedding trained on B already covers — the quantity transfer depends on).
"""

from __future__ import annotations

import argparse
import io
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SOURCES = {
    "ug": ["mono/ug/common_voice/sentence-collector.txt.xz"],
    "kk": ["mono/kk/common_voice/sentence-collector.txt.xz",
           "parallel/kk-ru/apertium_kaz_rus_CORPUS/afn-kaz-1550.xz"],
    "tr": ["lid/lingua_testdata/sentences/tr.txt.xz", "parallel/en-tr/wmt_newstest/2017/en-tr_both-directions/newstest2017.tr.xz"],
    "en": ["lid/lingua_testdata/sentences/en.txt.xz"],
    "ru": ["lid/lingua_testdata/sentences/ru.txt.xz", "parallel/kk-ru/apertium_kaz_rus_CORPUS/afn-ru.xz"],
}
PAIRS = [("ug", "tr"), ("kk", "tr"), ("ug", "kk"), ("ug", "en"), ("kk", "en"), ("kk", "ru")]


def sample(root: Path, lang: str, n: int) -> list[str]:
    from xling.core.io import read_lines

    out: list[str] = []
    for rel in SOURCES[lang]:
        out += [x.strip() for x in read_lines(root / rel) if x.strip()]
    return out[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=3000)
    ap.add_argument("--vocab", type=int, default=8000)
    args = ap.parse_args()

    import sentencepiece as spm

    from xling.core.paths import data_root
    from xling.translit import view_function

    root = data_root()
    raw = {lg: sample(root, lg, args.lines) for lg in SOURCES}
    print(f"lines per language: {', '.join(f'{lg} {len(v)}' for lg, v in raw.items())}; vocab {args.vocab}\n")
    print("| setting | pair | type Jaccard | A tokens in B | B tokens in A |\n|---|---|---|---|---|")
    for setting in ("none", "view"):
        text = {lg: [view_function(lg)(x) for x in lines] if setting == "view" else lines for lg, lines in raw.items()}
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(list(itertools.chain(*text.values()))),
                                       model_writer=model, vocab_size=args.vocab, model_type="unigram",
                                       character_coverage=1.0, num_threads=1, minloglevel=2, seed_sentencepiece_size=200000)
        sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
        pieces = {lg: [p for x in lines for p in sp.encode(x, out_type=str)] for lg, lines in text.items()}
        types = {lg: set(p) for lg, p in pieces.items()}
        for a, b in PAIRS:
            jac = len(types[a] & types[b]) / len(types[a] | types[b])
            a_in_b = sum(p in types[b] for p in pieces[a]) / len(pieces[a])
            b_in_a = sum(p in types[a] for p in pieces[b]) / len(pieces[b])
            print(f"| {setting} | {a}–{b} | {100 * jac:.1f} | {100 * a_in_b:.1f} | {100 * b_in_a:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
