"""Encoding throughput (lines/s) of our HF tokenizer export vs plain SentencePiece, same run, same lines.

Vocabulary: `xling vocab train`'s pipeline on the pretraining-safe kk/ug/ru/en/tr text of the data
root (or `--vocab DIR`). Lines: those texts interleaved and cycled to `--lines`. Methods (best of
`--repeats`, 2 threads where a method is parallel):

- `sentencepiece list, 2 threads` — baseline: `sp.encode(lines, num_threads=2)`;
- `sentencepiece per line` — `sp.encode(line)` in a Python loop;
- `HF tokenizer, batch` — `tok(batch, add_special_tokens=False)` over batches of `--batch` lines
  (the transformers call a data loader makes; rayon limited to 2 threads);
- `HF backend encode_batch` — `tok.backend_tokenizer.encode_batch(batch, add_special_tokens=False)`;
- `HF tokenizer, per line` — `tok(line)` in a loop.

Also checks that every method returns the same ids for every line.

    .venv/bin/python bench/vocab_encode_throughput.py --lines 100000
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "2")  # before tokenizers starts its thread pool
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SOURCES = {
    "kaz_Cyrl": "mono/kk/common_voice/sentence-collector.txt.xz",
    "uig_Arab": "mono/ug/common_voice/sentence-collector.txt.xz",
    "rus_Cyrl": "lid/lingua_testdata/sentences/ru.txt.xz",
    "eng_Latn": "lid/lingua_testdata/sentences/en.txt.xz",
    "tur_Latn": "lid/lingua_testdata/sentences/tr.txt.xz",
}


def real_lines(n: int) -> list[str]:
    from xling.core.io import read_lines
    from xling.core.paths import data_root

    per = [[ln.strip() for ln in read_lines(data_root() / rel) if ln.strip()] for rel in SOURCES.values()]
    mixed = [ln for group in zip(*[p * (1 + max(map(len, per)) // len(p)) for p in per], strict=False)
             for ln in group]
    return (mixed * (1 + n // len(mixed)))[:n]


def train_bench_vocab(out: Path, vocab_size: int) -> Path:
    from vocab.train import VocabTrainConfig, train_vocab
    from xling.core.paths import data_root

    inputs = [f"{lang}={data_root() / rel}" for lang, rel in SOURCES.items()]
    return train_vocab(VocabTrainConfig(inputs=inputs, out=str(out), vocab_size=vocab_size, byte_fallback=True,
                                        stats_lines=200))


def best_rate(fn: Callable[[], list[list[int]]], n: int, repeats: int) -> tuple[float, list[list[int]]]:
    best, ids = float("inf"), []
    for _ in range(repeats):
        t = time.perf_counter()
        ids = fn()
        best = min(best, time.perf_counter() - t)
    return n / best, ids


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--vocab", help="vocabulary folder (default: train one into a temp folder)")
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import sentencepiece as spm
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="xling-bench-vocab-") as tmp:
        vocab = Path(args.vocab) if args.vocab else train_bench_vocab(Path(tmp) / "v", args.vocab_size)
        sp = spm.SentencePieceProcessor(model_file=str(vocab / "sentencepiece.bpe.model"))
        tok = AutoTokenizer.from_pretrained(str(vocab))
        lines = real_lines(args.lines)
        batches = [lines[i:i + args.batch] for i in range(0, len(lines), args.batch)]
        backend = tok.backend_tokenizer

        methods: dict[str, Callable[[], list[list[int]]]] = {
            "sentencepiece list, 2 threads": lambda: sp.encode(lines, num_threads=2),
            "sentencepiece per line": lambda: [sp.encode(x) for x in lines],
            "HF tokenizer, batch": lambda: [ids for b in batches
                                            for ids in tok(b, add_special_tokens=False)["input_ids"]],
            "HF backend encode_batch": lambda: [e.ids for b in batches
                                                for e in backend.encode_batch(b, add_special_tokens=False)],
            "HF tokenizer, per line": lambda: [tok(x, add_special_tokens=False)["input_ids"] for x in lines],
        }
        rates, reference = {}, None
        for name, fn in methods.items():
            rates[name], ids = best_rate(fn, len(lines), args.repeats)
            if reference is None:
                reference = ids
            elif ids != reference:
                print(f"MISMATCH: {name} gives different ids than sentencepiece", file=sys.stderr)
                return 1
        base = rates["sentencepiece list, 2 threads"]
        n_tok = sum(map(len, reference or []))
        print(f"{len(lines):,} real kk/ug/ru/en/tr lines ({n_tok:,} pieces), vocabulary {sp.get_piece_size():,} "
              f"pieces, batch {args.batch}, best of {args.repeats}; all methods gave identical ids")
        print(f"{'method':32s} {'lines/s':>12s} {'vs sentencepiece list, 2 threads':>34s}")
        for name, r in rates.items():
            print(f"{name:32s} {r:12,.0f} {r / base:33.2f}x")
        from benchlib import conditions, emit, peak_rss_mb

        emit("vocab_encode_throughput", "HF tokenizer batch / sentencepiece list, 2 threads (lines/s)",
             round(rates["HF tokenizer, batch"] / base, 3), None, peak_rss_mb=round(peak_rss_mb()), **conditions())
    return 0


if __name__ == "__main__":
    sys.exit(main())
