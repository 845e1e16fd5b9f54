"""Choose `retrieval.hybrid` (the model's weight when fused with char n-grams) on dev sets, never a test set.

    PYTHONPATH=. XLING_DATA=/work/shared/data .venv/bin/python bench/hybrid_weight.py \
        runs/demo/pretrain/xling/final runs/long/pretrain/xling/final [--max 1000] \
        [--layer -2 --scoring maxsim --hubness none]

Dev sets no evaluation task reads and no recipe trains on as pairs: WMT newstest2020 ru-en (news; the
recipes train XLCo on newstest2019) and newstest2018 tr-en (its two sides are in the recipes' monolingual
corpus, unaligned; the pairs are on the recipes' XLCo list only for 2017). For every model and set, top-1
accuracy in both directions for each weight α on a grid (α = 0: `baseline:char-ngram`'s search; α = 1:
the model's own), then the mean over models, sets and directions; the weight with the best mean is
printed last. The model's similarities are `eval_xtreme.retrieval.sentence_similarities` under the given
`retrieval.scoring` / `hubness` (choose those first with `bench/retrieval_scoring.py`), the fused search
`eval_xtreme.baselines.fused_search` with the characters' similarities corrected alike: what `xling eval` runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import retrieval_dev_sets

GRID = (0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="from_pretrained encoder folders")
    ap.add_argument("--max", type=int, default=1000, help="first N pairs of each set")
    ap.add_argument("--layer", type=int, default=-1)
    ap.add_argument("--scoring", default="cosine", help="retrieval.scoring")
    ap.add_argument("--hubness", default="none", help="retrieval.hubness")
    args = ap.parse_args()

    import numpy as np

    from eval_xtreme.baselines import char_ngram_similarities, fused_search
    from eval_xtreme.retrieval import Encoder, RetrievalConfig, sentence_similarities
    from xling.core.report import markdown_table

    sets = retrieval_dev_sets(args.max)
    rc = RetrievalConfig(layer=args.layer, scoring=args.scoring, hubness=args.hubness)
    chars = {name: char_ngram_similarities(src, trg, rc.hubness, rc.margin_k) for name, (src, trg) in sets.items()}
    rows, means = [], {a: [] for a in GRID}
    for model in args.models:
        enc = Encoder(model, args.layer)
        for name, (src, trg) in sets.items():
            sims = sentence_similarities(enc, src, trg, rc)
            gold = np.arange(len(src))
            cells = []
            for a in GRID:
                res = fused_search(sims, chars[name], a)
                fwd = 100 * float(np.mean(np.array(res.xx_en) == gold))
                bwd = 100 * float(np.mean(np.array(res.en_xx) == gold))
                means[a] += [fwd, bwd]
                cells.append(f"{fwd:.1f} / {bwd:.1f}")
            rows.append([model, f"{name} ({len(src)})", *cells])
    mean_row = ["mean", "all sets, both directions", *(f"{np.mean(means[a]):.2f}" for a in GRID)]
    print(markdown_table(["model", "dev set (pairs)", *(f"α {a}" for a in GRID)], [*rows, mean_row]))
    best = max(GRID, key=lambda a: (np.mean(means[a]), -abs(a - 0.5)))
    print(f"\nbest mean: α = {best} ({np.mean(means[best]):.2f}); α 0 = char n-grams alone "
          f"({np.mean(means[0.0]):.2f}), α 1 = the models alone ({np.mean(means[1.0]):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
