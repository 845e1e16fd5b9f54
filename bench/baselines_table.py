"""The no-model baselines on every retrieval and tagging set in the data root (the numbers in docs/experiments.md).

    PYTHONPATH=. XLING_DATA=/work/shared/data .venv/bin/python bench/baselines_table.py [--view translit]

Retrieval: `baseline:char-ngram` top-1 accuracy (query → candidate, and back) on every language of
every registered retrieval task except BUCC, plus the X-WMT multi-way directions the issue's
reference numbers name (kk→ru, kk→ky, ug is not in X-WMT). Tagging: `baseline:mft` trained on the
task's source-language train split, scored on the source's own dev set and on every test language.
`--view translit` runs everything through the Latin transliteration view (ug ULY, kk 2021 Latin).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RETRIEVAL = ("tatoeba_turkic", "flores_en_ug", "xwmt_en_kk", "tatoeba_challenge")
TAGGING = ("udpos_turkic", "udpos_turkic_tr", "kaznerd", "uner_pud")
# X-WMT directions outside the task registry, for comparison with the reference numbers.
XWMT_EXTRA = {"kk-ru": ("kk-ru", "kk", "ru"), "kk-ky": ("kk-ky", "kk", "ky"), "kk-tr": ("kk-tr", "kk", "tr"),
              "ky-ru": ("ky-ru", "ky", "ru")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--view", choices=("none", "translit"), default="none")
    args = ap.parse_args()

    from eval_xtreme.baselines import mft_scores, retrieval_baseline_scores, train_mft
    from eval_xtreme.loaders import RetrievalSet, _aligned, load_split
    from eval_xtreme.tasks import get_task
    from xling.core.paths import data_root

    def view_for(lang: str):
        if args.view == "none":
            return lambda s: s
        from xling.translit import view_function

        return view_function(lang.split("-")[0])

    print("| task | direction | queries | candidates | top-1 → | top-1 ← |\n|---|---|---|---|---|---|")
    for name in RETRIEVAL:
        task = get_task(name)
        for lang in task.languages:
            try:
                rs, _ = load_split(task, "test", lang)
            except FileNotFoundError:
                continue
            # A view applies to the one side written in the viewed language; English/Russian stay as they are.
            v = view_for(lang)
            rs = RetrievalSet([v(s) for s in rs.source], rs.target, rs.gold, rs.source_ids)
            s = retrieval_baseline_scores(task, rs)
            print(f"| {name} | {lang} | {len(rs.source)} | {len(rs.target)} | {s['accuracy_xx_en']:.1f} | "
                  f"{s['accuracy_en_xx']:.1f} |")
    root = data_root() / "parallel" / "xwmt"
    task = get_task("xwmt_en_kk")
    for label, (pair, a, b) in XWMT_EXTRA.items():
        src, trg = _aligned(root / pair / f"{pair}.{a}.xz", root / pair / f"{pair}.{b}.xz")
        va, vb = view_for(a), view_for(b)
        rs = RetrievalSet([va(x) for x in src], [vb(x) for x in trg], list(range(len(src))))
        s = retrieval_baseline_scores(task, rs)
        print(f"| X-WMT | {label} | {len(src)} | {len(trg)} | {s['accuracy_xx_en']:.1f} | {s['accuracy_en_xx']:.1f} |")

    print("\n| task | source | source dev | language | test sentences | score |\n|---|---|---|---|---|---|")
    for name in TAGGING:
        task = get_task(name)
        train, _ = load_split(task, "train", task.train_lang)
        tagger = train_mft(train)
        dev, _ = load_split(task, "dev", task.train_lang)
        dev_score = mft_scores(task, tagger, dev, task.train_lang)
        from eval_xtreme.metrics import primary_score

        for lang in task.languages:
            try:
                test, _ = load_split(task, "test", lang)
            except FileNotFoundError:
                continue
            v = view_for(lang)
            s = mft_scores(task, tagger, [type(ex)(ex.id, [v(t) for t in ex.tokens], ex.tags) for ex in test], lang)
            print(f"| {name} | {task.train_lang} | {primary_score(task.metric, dev_score):.1f} | {lang} | "
                  f"{len(test)} | {primary_score(task.metric, s):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
