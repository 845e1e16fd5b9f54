"""Choose `retrieval.scoring` and `retrieval.hubness` on dev sets, never a test set.

    PYTHONPATH=. XLING_DATA=/work/shared/data .venv/bin/python bench/retrieval_scoring.py \
        runs/demo/pretrain/xling/final runs/long/pretrain/xling/final [--max 1000] [--layers -1 -2]

Dev sets as `bench/hybrid_weight.py`'s (WMT newstest2020 ru-en, newstest2018 tr-en: no evaluation task
reads them and no recipe trains on them as pairs). For every model, layer and set: top-1 accuracy in both
directions of XTREME's pooled cosine and of token MaxSim (`eval_xtreme.retrieval.maxsim_scores`), each
plain and with CSLS, and of `baseline:char-ngram` under the same two hubness settings, on the same
sentences; then each system's mean over models, sets and directions, and the model's mean minus the
characters' under the same hubness setting (the like-for-like comparison the evaluation reports).
The searches are `eval_xtreme.retrieval.sentence_similarities` and
`eval_xtreme.baselines.char_ngram_similarities`, what `xling eval` runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import retrieval_dev_sets

SYSTEMS = (("cosine", "none"), ("cosine", "csls"), ("maxsim", "none"), ("maxsim", "csls"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="from_pretrained encoder folders")
    ap.add_argument("--max", type=int, default=1000, help="first N pairs of each set")
    ap.add_argument("--layers", type=int, nargs="+", default=[-1], help="XTREME-numbered layers to try")
    args = ap.parse_args()

    import numpy as np

    from eval_xtreme.baselines import char_ngram_similarities
    from eval_xtreme.retrieval import Encoder, RetrievalConfig, matrix_search, sentence_similarities
    from xling.core.report import markdown_table

    sets = retrieval_dev_sets(args.max)

    def top1(sims) -> tuple[float, float]:
        res, gold = matrix_search(sims), np.arange(sims.shape[0])
        return 100 * float(np.mean(np.array(res.xx_en) == gold)), 100 * float(np.mean(np.array(res.en_xx) == gold))

    chars = {(name, hub): top1(char_ngram_similarities(src, trg, hub))
             for name, (src, trg) in sets.items() for hub in ("none", "csls")}
    rows, means = [], {}
    for layer in args.layers:
        for model in args.models:
            enc = Encoder(model, layer)
            for name, (src, trg) in sets.items():
                cells = []
                for scoring, hub in SYSTEMS:
                    t0 = time.perf_counter()
                    fwd, bwd = top1(sentence_similarities(enc, src, trg, RetrievalConfig(scoring=scoring, hubness=hub)))
                    means.setdefault((layer, scoring, hub), []).extend([fwd, bwd])
                    cells.append(f"{fwd:.1f} / {bwd:.1f} ({time.perf_counter() - t0:.0f} s)")
                rows.append([model, str(layer), f"{name} ({len(src)})", *cells])
    for name in sets:
        rows.append(["baseline:char-ngram", "", f"{name} ({len(sets[name][0])})",
                     *(f"{chars[(name, hub)][0]:.1f} / {chars[(name, hub)][1]:.1f}" for _, hub in SYSTEMS)])
    heads = [f"{s} + {h}" if h != "none" else s for s, h in SYSTEMS]
    print(markdown_table(["model", "layer", "dev set (pairs)", *heads], rows))
    char_mean = {hub: np.mean([v for (_, h), pair in chars.items() if h == hub for v in pair]) for hub in ("none", "csls")}
    summary = [[str(layer), f"{s} + {h}" if h != "none" else s, f"{np.mean(v):.2f}", f"{char_mean[h]:.2f}",
                f"{np.mean(v) - char_mean[h]:+.2f}"] for (layer, s, h), v in means.items()]
    print()
    print(markdown_table(["layer", "model scoring", "models' mean top-1", "char n-grams, same hubness", "Δ"], summary))
    best = max(means, key=lambda key: np.mean(means[key]))
    print(f"\nbest models' mean: layer {best[0]}, scoring {best[1]}, hubness {best[2]} ({np.mean(means[best]):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
