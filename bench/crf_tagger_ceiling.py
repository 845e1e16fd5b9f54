"""How far a classic feature-rich tagger gets on a source treebank, scored as XTREME scores UD-POS.

A linear-chain CRF (CRFsuite, through python-crfsuite: an independent, widely used implementation) with
the usual hand-made features — the word, its 1–5-letter endings and 1–3-letter beginnings, its shape,
and the words and endings around it — trained on the source treebank's train split and read on its whole
dev split, beside the most-frequent-tag lookup (`baseline:mft`). It tells whether a source-level goal
(issue #13: English-EWT and Turkish-IMST dev F1 ≥ 90 in the long recipe) is within reach of a tagger
that sees only the treebank: the fine-tuned encoders are read against it.

    pip install python-crfsuite      # not a dependency of xling: this bench only
    python bench/crf_tagger_ceiling.py --task udpos_turkic_tr     # Turkish-IMST (≈ 25 s on 2 cores)
    python bench/crf_tagger_ceiling.py --task udpos_turkic        # English-EWT (≈ 2 min)

Prints token accuracy and XTREME's F1 (seqeval over bare UPOS tags, `eval_xtreme.metrics.pos_accuracy`)
for the CRF at each `--c1/--c2` regularisation given and for the lookup, and the CRF's F1 over the
lookup's. The regularisation is read on dev itself, so the best row is an optimistic ceiling.
"""

from __future__ import annotations

import argparse
import time

from eval_xtreme.baselines import train_mft
from eval_xtreme.loaders import load_split
from eval_xtreme.metrics import pos_accuracy
from eval_xtreme.tasks import get_task


def shape(word: str) -> str:
    return "".join("X" if c.isupper() else "x" if c.isalpha() else "d" if c.isdigit() else c for c in word)[:6]


def features(words: list[str], i: int) -> dict[str, float]:
    w = words[i]
    low = w.lower()
    f = {"bias": 1.0, f"w={low}": 1.0, f"shape={shape(w)}": 1.0, "upper": float(w[:1].isupper()),
         "first": float(i == 0), f"len={min(len(w), 10)}": 1.0}
    for k in range(1, 6):
        if len(low) > k:
            f[f"s{k}={low[-k:]}"] = 1.0
    for k in range(1, 4):
        if len(low) > k:
            f[f"p{k}={low[:k]}"] = 1.0
    for d in (-2, -1, 1, 2):
        j = i + d
        if not 0 <= j < len(words):
            f[f"{d}:pad"] = 1.0
            continue
        other = words[j].lower()
        f[f"{d}:w={other}"] = 1.0
        f[f"{d}:s3={other[-3:]}"] = 1.0
        f[f"{d}:s2={other[-2:]}"] = 1.0
        if abs(d) == 1:
            f[f"{d}:shape={shape(words[j])}"] = 1.0
    return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="udpos_turkic_tr", help="a UD-POS task whose source has train and dev splits")
    ap.add_argument("--data", default=None, help="data root (default: $XLING_DATA or ../shared/data)")
    ap.add_argument("--c1", type=float, nargs="+", default=[0.1, 0.2, 0.05, 0.0])
    ap.add_argument("--c2", type=float, nargs="+", default=[0.01, 0.001, 0.05, 0.1])
    ap.add_argument("--iterations", type=int, default=200)
    args = ap.parse_args()
    try:
        import pycrfsuite
    except ImportError:
        raise SystemExit("this bench needs python-crfsuite: pip install python-crfsuite") from None
    if len(args.c1) != len(args.c2):
        raise SystemExit("--c1 and --c2 pair up: give as many of each")

    task = get_task(args.task)
    lang = task.train_lang
    train = load_split(task, "train", lang, args.data)[0]
    dev = load_split(task, "dev", lang, args.data)[0]
    gold = [list(s.tags) for s in dev]
    print(f"{task.name}: source {lang}, train {len(train)} sentences, dev {len(dev)} (whole split)")
    lookup = pos_accuracy([train_mft(train).tag(s.tokens) for s in dev], gold)
    print(f"  lookup (baseline:mft)      accuracy {lookup['accuracy']:.2f}  F1 {lookup['f1']:.2f}")
    model = "/tmp/xling-crf-ceiling.crfsuite"
    for c1, c2 in zip(args.c1, args.c2, strict=True):
        t0 = time.time()
        trainer = pycrfsuite.Trainer(verbose=False)
        for s in train:
            trainer.append([features(s.tokens, i) for i in range(len(s.tokens))], list(s.tags))
        trainer.set_params({"c1": c1, "c2": c2, "max_iterations": args.iterations,
                            "feature.possible_transitions": True})
        trainer.train(model)
        tagger = pycrfsuite.Tagger()
        tagger.open(model)
        got = pos_accuracy([tagger.tag([features(s.tokens, i) for i in range(len(s.tokens))]) for s in dev], gold)
        print(f"  CRF c1={c1:<5} c2={c2:<6}  accuracy {got['accuracy']:.2f}  F1 {got['f1']:.2f}  "
              f"({got['f1'] - lookup['f1']:+.2f} over the lookup; {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
