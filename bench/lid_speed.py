"""`identify` speed against the bare lid.176 `model.predict`, on the lines `bench/lid_targets.py` measures.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=<checkout> python bench/lid_speed.py --model runs/lid-targets/model

Lines per CPU second of this process (`time.process_time`), best of `--rounds` rounds each, for the bare
`model.predict`, `identify` with the base model and with the supplementary model `--model`, and each as
a ratio to the bare predict of the same run. Run it with PYTHONPATH pointing at two checkouts in turn
(alternating) to compare code: the bare predict is the yardstick the machine's load moves with.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from lid_targets import measure_sets, training_inputs  # bench/ is on the path: `python bench/lid_speed.py`

from corpora.lid import LanguageIdentifier, _fasttext_model
from xling.core.paths import data_root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a supplementary model folder (`xling lid train`)")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args(argv)
    root = data_root()
    with tempfile.TemporaryDirectory() as tmp:
        training_inputs(root, Path(tmp))
        lines = [t for _, _, ls in measure_sets(root, Path(tmp), 0.2, 1000) for t in ls]
    bare, base = _fasttext_model(), LanguageIdentifier("fasttext")
    both = LanguageIdentifier("fasttext", supplementary=args.model)
    best = {"bare model.predict": 0.0, "identify, base": 0.0, "identify, base + supplementary": 0.0}
    for _ in range(args.rounds):
        for name, f in zip(best, (bare.predict, base.identify, both.identify), strict=True):
            t = time.process_time()
            for line in lines:
                f(line)
            best[name] = max(best[name], len(lines) / (time.process_time() - t))
    ref = best["bare model.predict"]
    print(f"{len(lines):,} lines, best of {args.rounds} rounds, lines per CPU second (× bare predict): "
          + ", ".join(f"{k} {v:,.0f} ({v / ref:.2f})" for k, v in best.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
