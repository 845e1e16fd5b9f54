"""How often SentencePiece and the HF export disagree, with unigram scores as trained vs on the 2⁻⁸ grid.

SentencePiece's unigram Viterbi sums scores in float32, HF tokenizers' in float64; exact ties then go
whichever way rounding pushes them (vocab/export.py). This trains one vocabulary per `--sizes` on the
data root's pretraining-safe kk/ug/ru/en text (Common Voice kk/ug, Leipzig ru/en, apertium kk gov web)
and encodes those same lines with

- SentencePiece on the model as trained vs the HF backend built from the same, unrounded scores (the
  export before the grid);
- SentencePiece vs HF on the rounded model (what `export_hf` writes now);

and counts lines whose ids differ, plus lines whose segmentation the rounding changed.

    .venv/bin/python bench/tokenization_ties.py --sizes 3000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import sentencepiece as spm
from tokenizers import Tokenizer

from vocab.export import SPM_FILE, build_backend, export_hf, load_proto
from vocab.train import VocabTrainConfig, run_spm_trainer, spm_args
from xling.core.io import read_lines
from xling.core.paths import data_root

SOURCES = ("mono/kk/common_voice/sentence-collector.txt.xz", "mono/ug/common_voice/sentence-collector.txt.xz",
           "lid/lingua_testdata/sentences/ru.txt.xz", "lid/lingua_testdata/sentences/en.txt.xz")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="3000", help="comma-separated vocabulary sizes")
    ap.add_argument("--model-type", default="unigram", choices=["unigram", "bpe"])
    args = ap.parse_args(argv)
    root = data_root(required=True)
    lines = [ln.strip() for rel in SOURCES for ln in read_lines(root / rel) if ln.strip()]
    gov = sorted((root / "parallel/kk-ru/apertium_kaz_rus_CORPUS").glob("*kaz*"))
    lines += [ln.strip() for f in gov for ln in read_lines(f) if ln.strip()]
    print(f"{len(lines):,} lines; {args.model_type}")
    print("| pieces | SPM ≠ HF, scores as trained | SPM ≠ HF, scores on the 2⁻⁸ grid | segmentation changed by the grid |")
    print("|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "train.txt"
        text.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for size in (int(s) for s in args.sizes.split(",")):
            d = Path(tmp) / str(size)
            d.mkdir()
            cfg = VocabTrainConfig(vocab_size=size, model_type=args.model_type)
            run_spm_trainer(spm_args(cfg, str(text), str(d / "raw")))
            raw_sp = spm.SentencePieceProcessor(model_file=str(d / "raw.model"))
            raw_ids = raw_sp.encode(lines)
            raw_hf = [e.ids for e in build_backend(load_proto(d / "raw.model")).encode_batch(
                lines, add_special_tokens=False)]
            export_hf(d / "raw.model", d / "hf")
            sp = spm.SentencePieceProcessor(model_file=str(d / "hf" / SPM_FILE))
            ids = sp.encode(lines)
            hf = [e.ids for e in Tokenizer.from_file(str(d / "hf" / "tokenizer.json")).encode_batch(
                lines, add_special_tokens=False)]
            before = sum(a != b for a, b in zip(raw_ids, raw_hf, strict=True))
            after = sum(a != b for a, b in zip(ids, hf, strict=True))
            changed = sum(a != b for a, b in zip(raw_ids, ids, strict=True))
            print(f"| {size:,} | {before} | {after} | {changed} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
