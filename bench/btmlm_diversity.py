"""BTMLM generator diversity of a pretrained model: the distinct ratio of pseudo tokens per batch
(`btmlm_pseudo_distinct`, what the trainer logs and the collapse guard reads) under each pick rule,
from step 1 only (forward passes, no training), on real apertium kk and ru sentences.

    PYTHONPATH=. XLING_DATA=/work/shared/data python bench/btmlm_diversity.py runs/demo/pretrain/mlm/final

The argmax row is the baseline: the rule BTMLM used before it sampled. The last row is the scale of
real text: the same ratio over the batches' own source tokens (what a generator writing sentences as
varied as its inputs would reach).
"""

from __future__ import annotations

import argparse

import torch

from xling.core.io import read_lines
from xling.core.paths import resolve_data_path
from xling.objectives.base import MonoExample, SpecialIds
from xling.objectives.btmlm import BTMLM, BTMLMConfig

SOURCES = (("$XLING_DATA/parallel/kk-ru/apertium_kaz_rus_CORPUS/afn-kaz-1550.xz", "kaz_Cyrl"),
           ("$XLING_DATA/parallel/kk-ru/apertium_kaz_rus_CORPUS/afn-ru.xz", "rus_Cyrl"))
RULES = {
    "argmax over non-special tokens (the old rule)": BTMLMConfig(decoding="argmax", exclude_source=False),
    "argmax, the row's source tokens excluded": BTMLMConfig(decoding="argmax"),
    "sample, T 1, top-k 50, source excluded": BTMLMConfig(top_k=50),
    "sample, T 1.5, top-k 50, source excluded": BTMLMConfig(top_k=50, temperature=1.5),
    "sample, T 1, top-k 500, source excluded": BTMLMConfig(top_k=500),
    "sample, T 1, whole vocabulary, source excluded": BTMLMConfig(top_k=0),
    "argmax, source excluded, no repeat in a row": BTMLMConfig(decoding="argmax", no_repeat=True),
    "sample, T 1, top-k 50, source excluded, no repeat in a row": BTMLMConfig(top_k=50, no_repeat=True),
}


class Unconditioned(BTMLM):
    """Every placeholder gets the batch's mean distribution: a generator that ignores its source.
    Its ratio is the floor a pick rule gives by itself (with `no_repeat`, ≈ (k + top_k) / k per row)."""

    def pick(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return super().pick(logits.mean(0, keepdim=True).expand_as(logits), batch)


FLOOR = {"sample, T 1, top-k 50, source excluded; every placeholder given the batch's mean distribution "
         "(a generator that reads no source)": BTMLMConfig(top_k=50),
         "the same with no repeat in a row": BTMLMConfig(top_k=50, no_repeat=True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="an XLM-R MLM folder with its tokenizer (a pretraining run's final/)")
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-len", type=int, default=128)
    args = ap.parse_args()
    from transformers import AutoTokenizer, XLMRobertaForMaskedLM

    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = XLMRobertaForMaskedLM.from_pretrained(args.model).eval()
    special = SpecialIds.from_tokenizer(tok)
    per_lang = args.batches * args.batch_size // len(SOURCES)
    examples = []
    for path, lang in SOURCES:
        lines = [ln.strip() for ln in read_lines(resolve_data_path(path)) if len(ln.strip()) > 40][200:200 + per_lang]
        examples += [MonoExample(tok(t, add_special_tokens=False)["input_ids"][:args.max_len - 2], lang) for t in lines]
    batches = [examples[i:i + args.batch_size] for i in range(0, len(examples), args.batch_size)]
    print(f"| pick rule ({len(batches)} batches × {args.batch_size} sentences) | distinct ratio, mean (min–max) |")
    print("|---|---:|")
    for name, cfg in [*RULES.items(), *FLOOR.items()]:
        obj = (Unconditioned if name in FLOOR else BTMLM)(cfg, special, args.max_len, {})
        ratios = []
        for i, rows in enumerate(batches):
            batch = obj.collate(rows, torch.Generator().manual_seed(i))
            torch.manual_seed(i)
            pseudo = obj.generate_pseudo(model, batch)
            ratios.append(pseudo.unique().numel() / pseudo.numel())
        print(f"| {name} | {sum(ratios) / len(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f}) |", flush=True)
    src_max = (args.max_len - 4) // 2  # BTMLM's source cut with src_max_tokens 0, as in every rule above
    real = [torch.cat([torch.tensor(e.ids[:src_max]) for e in rows]) for rows in batches]
    ratios = [r.unique().numel() / r.numel() for r in real]
    print(f"| real text: the batches' own source tokens | {sum(ratios) / len(ratios):.3f} "
          f"({min(ratios):.3f}–{max(ratios):.3f}) |")


if __name__ == "__main__":
    main()
