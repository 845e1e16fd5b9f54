"""`xling bt train|translate|score`: back-translation commands."""

from __future__ import annotations

import argparse

from eval_xtreme.uncertainty import format_ci, format_delta
from xling.bt.score import load_test_set
from xling.bt.train import BTTrainConfig, train_bt
from xling.bt.translate import TranslateConfig, run_translate, score_model
from xling.core.config import add_set_option, load_config
from xling.core.io import read_json
from xling.core.stage import add_allow_partial_option


def register(subparsers: argparse._SubParsersAction) -> None:
    bt = subparsers.add_parser("bt", help="back-translation: train a seq2seq model, make pseudo-parallel pairs, score")
    sub = bt.add_subparsers(dest="bt_command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("train", help="train the Marian-style BT model on parallel data")
    p.add_argument("config", help="YAML BTTrainConfig (e.g. recipes/bt-train-kk-ru.yaml)")
    p.add_argument("--out", required=True, help="output folder (re-running resumes from OUT/checkpoints)")
    p.add_argument("--force", action="store_true",
                   help="redo the run in --out even if it finished or was started with other settings")
    add_set_option(p, "steps=100")
    add_allow_partial_option(p, "parallel source files (e.g. a running `bt translate`) or an init_from folder")
    p.set_defaults(func=_train)

    p = sub.add_parser("translate", help="translate monolingual text into filtered pseudo-parallel pairs")
    p.add_argument("config", help="YAML TranslateConfig (e.g. recipes/bt-translate-kk-ru.yaml)")
    p.add_argument("--out", required=True, help="output folder (pairs.tsv, removed.tsv, progress.json); resumable")
    p.add_argument("--force", action="store_true",
                   help="redo the translation in --out even if it finished or was started with other settings")
    add_allow_partial_option(p, "a `bt train` model folder")
    add_set_option(p, "beams=1")
    p.set_defaults(func=_translate)

    p = sub.add_parser("score", help="BLEU, chrF and chrF++ of a BT model on a test set")
    p.add_argument("--model", required=True, help="OUT/model of `xling bt train`")
    p.add_argument("--test", required=True, help="TSV (src<TAB>tgt), or the source file of an aligned pair with --ref")
    p.add_argument("--ref", default="", help="reference file aligned with --test (omit for a TSV)")
    p.add_argument("--tgt-lang", required=True, help="language to translate into, e.g. rus_Cyrl")
    p.add_argument("--reverse", action="store_true", help="swap the TSV columns (translate column 2 into column 1)")
    p.add_argument("--limit", type=int, default=0, help="score only the first N pairs")
    p.add_argument("--beams", type=int, default=4)
    p.add_argument("--no-repeat-ngram", type=int, default=0, metavar="N",
                   help="no n-gram of N output pieces twice in one translation (0: off; N ≥ 2)")
    p.add_argument("--source-bias", type=float, default=0.0, metavar="B",
                   help="add B to the scores of the pieces the source contains (names, numbers, loanwords; 0: off)")
    p.add_argument("--out", default="", help="folder for scores.json and hypotheses.txt")
    p.set_defaults(func=_score)


def _score_line(s: dict) -> str:
    return (f"BLEU {s['bleu']:.2f}  chrF {format_ci(s['chrf'], s.get('chrf_ci95'), 2)}  chrF++ {s['chrf++']:.2f}  "
            f"(copying the source: chrF {format_ci(s['copy_chrf'], s.get('copy_chrf_ci95'), 2)}; "
            f"model − copy {format_delta(s.get('chrf_minus_copy'), 2) or 'n/a'}; n={s['n']})")


def _train(args: argparse.Namespace) -> int:
    cfg = load_config(BTTrainConfig, args.config, args.overrides)
    model_dir = train_bt(cfg, args.out, force=args.force, allow_partial=args.allow_partial)
    scores = read_json(model_dir.parent / "scores.json")
    print(f"wrote {model_dir} (report: {model_dir.parent / 'report.md'})")
    for direction, s in scores.items():
        print(f"  {direction}: {_score_line(s)}")
    return 0


def _translate(args: argparse.Namespace) -> int:
    cfg = load_config(TranslateConfig, args.config, args.overrides)
    progress = run_translate(cfg, args.out, force=args.force, allow_partial=args.allow_partial)
    print(f"wrote {args.out}/pairs.tsv: {progress['kept']} of {progress['lines_done']} lines kept "
          f"(removed: {progress['reasons'] or 'none'}); parallel source entry in {args.out}/source.yaml")
    return 0


def _score(args: argparse.Namespace) -> int:
    test = load_test_set(args.test, reverse=args.reverse, tgt=args.ref, limit=args.limit)
    scores = score_model(args.model, test, args.tgt_lang, out=args.out or None, beams=args.beams,
                         no_repeat_ngram=args.no_repeat_ngram, source_bias=args.source_bias)
    where = f"; wrote {args.out}/scores.json" if args.out else ""
    print(_score_line(scores) + where)
    return 0
