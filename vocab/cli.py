"""`xling vocab ...`: train, extend, stats, resize-embeddings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vocab.embeddings import resize_embeddings
from vocab.extend import VocabExtendConfig, extend_vocab
from vocab.stats import model_file_of, stats_for_inputs, write_stats
from vocab.train import VocabTrainConfig, train_vocab
from xling.core.config import add_set_option, load_config
from xling.core.errors import InputError
from xling.core.io import read_json
from xling.core.stage import add_allow_partial_option


def register(sub: Any) -> None:
    p = sub.add_parser("vocab", help="train, extend and measure shared SentencePiece vocabularies")
    group = p.add_subparsers(dest="vocab_command", required=True, metavar="COMMAND")

    t = group.add_parser("train", help="train SentencePiece on a temperature-sampled language mix",
                         description="Train a shared SentencePiece vocabulary on a temperature-sampled mix "
                         "of corpus folders (ROOT/kept/<lang>/*.jsonl.gz) and/or LANG=file inputs; writes "
                         "the model, HF tokenizer files, train_args.json and a report into --out.")
    t.add_argument("inputs", nargs="*", metavar="INPUT", help="corpus folder or LANG=file (e.g. kaz_Cyrl=kk.txt)")
    t.add_argument("--out", help="output folder (written atomically)")
    t.add_argument("--vocab-size", type=int, help="SentencePiece pieces, <mask> not counted (default 32000)")
    t.add_argument("--model-type", choices=["unigram", "bpe"], help="default unigram")
    t.add_argument("--alpha", type=float, help="sampling temperature exponent, p ∝ n^α (default 0.3)")
    t.add_argument("--sample-sentences", type=int, help="lines in the training mix (default: corpus size)")
    t.add_argument("--seed", type=int)
    t.add_argument("--character-coverage", type=float, help="default 0.9999")
    t.add_argument("--byte-fallback", action=argparse.BooleanOptionalAction, default=None)
    t.add_argument("--normalization", choices=["identity", "nfkc", "nmt_nfkc"], help="default identity")
    t.add_argument("--num-threads", type=int)
    _common(t)
    t.set_defaults(func=_train)

    e = group.add_parser("extend", help="append pieces learned on new-language text to a vocabulary",
                         description="Learn pieces on --add text and append up to --new-pieces of them that the "
                         "base lacks; old ids are unchanged, <mask> moves to the end (mapping.json).")
    e.add_argument("--base", help="vocabulary folder to extend")
    e.add_argument("--add", nargs="+", metavar="INPUT", help="corpus folder or LANG=file of new-language text")
    e.add_argument("--new-pieces", type=int, help="append at most K pieces (default 1000)")
    e.add_argument("--out", help="output folder (written atomically)")
    e.add_argument("--add-vocab-size", type=int, help="size of the model learned on the added text")
    e.add_argument("--alpha", type=float)
    e.add_argument("--sample-sentences", type=int)
    e.add_argument("--seed", type=int)
    e.add_argument("--num-threads", type=int)
    _common(e)
    e.set_defaults(func=_extend)

    s = group.add_parser("stats", help="per-language fertility, unk/byte share, chars/piece, alphabet coverage")
    s.add_argument("dir", metavar="DIR", help="vocabulary folder (or a .model file)")
    s.add_argument("inputs", nargs="+", metavar="INPUT", help="corpus folder or LANG=file")
    s.add_argument("--out", help="folder for stats.json/.md/_fertility.png (default: DIR/stats)")
    s.add_argument("--max-lines", type=int, default=5000, help="lines per language (default 5000; 0 = all)")
    s.set_defaults(func=_stats)

    r = group.add_parser("resize-embeddings", help="grow a pretrained XLM-R MLM to an extended vocabulary")
    r.add_argument("--model", required=True, help="folder of the pretrained XLMRobertaForMaskedLM")
    r.add_argument("--base", required=True, help="the model's tokenizer folder (base vocabulary)")
    r.add_argument("--new", required=True, help="extended vocabulary folder")
    r.add_argument("--out", required=True, help="output model folder")
    r.set_defaults(func=_resize)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config; command-line flags override it")
    add_set_option(p, "alpha=0.5")
    p.add_argument("--stats-lines", type=int, help="lines per language measured for the report")
    p.add_argument("--force", action="store_true",
                   help="retrain even if --out is complete or was trained with other settings (refused without it)")
    add_allow_partial_option(p)


def _load(cls: type, args: argparse.Namespace, flags: dict[str, Any]) -> Any:
    """Config from `--config` YAML, then command-line flags, then `--set` overrides (last wins)."""
    return load_config(cls, args.config, args.overrides, {k: None if v == [] else v for k, v in flags.items()})


def _train(args: argparse.Namespace) -> int:
    cfg = _load(VocabTrainConfig, args, {
        "inputs": args.inputs, "out": args.out, "vocab_size": args.vocab_size, "model_type": args.model_type,
        "alpha": args.alpha, "sample_sentences": args.sample_sentences, "seed": args.seed,
        "character_coverage": args.character_coverage, "byte_fallback": args.byte_fallback,
        "normalization": args.normalization, "num_threads": args.num_threads, "stats_lines": args.stats_lines,
    })
    out = train_vocab(cfg, force=args.force, allow_partial=args.allow_partial)
    ta = read_json(Path(out) / "train_args.json")
    print(f"wrote {out}/ (sentencepiece.bpe.model, tokenizer.json, train_args.json, report.md)")
    print(f"{cfg.model_type} vocabulary: {cfg.vocab_size:,} pieces + <mask> (id {cfg.vocab_size}); "
          f"trained on {ta['sample']['lines']:,} sampled lines")
    _print_stats(out / "stats.md")
    return 0


def _extend(args: argparse.Namespace) -> int:
    cfg = _load(VocabExtendConfig, args, {
        "base": args.base, "add": args.add, "new_pieces": args.new_pieces, "out": args.out,
        "add_vocab_size": args.add_vocab_size, "alpha": args.alpha, "sample_sentences": args.sample_sentences,
        "seed": args.seed, "num_threads": args.num_threads, "stats_lines": args.stats_lines,
    })
    if not cfg.base or not cfg.add:
        raise InputError("extend needs --base DIR and --add INPUT...")
    out = extend_vocab(cfg, force=args.force, allow_partial=args.allow_partial)
    m = read_json(Path(out) / "mapping.json")
    ch = read_json(Path(out) / "fertility_change.json")
    print(f"wrote {out}/ (sentencepiece.bpe.model, tokenizer.json, mapping.json, report.md)")
    print(f"added {len(m['added']):,} pieces: {m['base_hf_size']:,} → {m['new_hf_size']:,} HF ids; "
          f"<mask> {m['moved']['<mask>'][0]} → {m['moved']['<mask>'][1]}, all other ids unchanged")
    for lang, v in ch.items():
        print(f"  {lang}: fertility {v['base']:.3f} → {v['extended']:.3f}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    model = model_file_of(args.dir)
    stats = stats_for_inputs(model, args.inputs, max_lines=args.max_lines or None)
    out = Path(args.out) if args.out else model.parent / "stats"
    paths = write_stats(stats, out)
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    _print_stats(paths["md"])
    return 0


def _resize(args: argparse.Namespace) -> int:
    out = resize_embeddings(args.model, args.base, args.new, args.out)
    info = read_json(Path(out) / "resize_embeddings.json")
    print(f"wrote {out}/ (model + tokenizer; loads with AutoModelForMaskedLM.from_pretrained)")
    print(f"embedding rows {info['rows_before']:,} → {info['rows_after']:,}: {info['new']:,} new rows "
          f"initialised from base pieces ({info['new_without_known_pieces']} from the mean row); "
          f"<mask> {info['mask'][0]} → {info['mask'][1]}")
    return 0


def _print_stats(md_path: Any) -> None:
    print(Path(md_path).read_text(encoding="utf-8").rstrip())
