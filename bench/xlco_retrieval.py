"""Does the `xlco` objective align sentences? A small same-budget comparison on CPU (docs/experiments.md).

    PYTHONPATH=. XLING_DATA=/work/shared/data .venv/bin/python bench/xlco_retrieval.py [--steps 150] [--out runs/xlco]

Pretraining-safe data only (shared/data/mono/README.md): the apertium kk-ru government pairs. The
`election` site (657 aligned pairs) is held out as the retrieval set; every training pair whose
Kazakh or Russian side also occurs there is dropped (the sites overlap). One 4k SentencePiece vocabulary
on the training sides; a 2-layer × 128 XLM-R from scratch; the same steps, batch, learning rate and
seed for both arms: `mlm` (MLM on the kk and ru sides as monolingual text) and `mlm+xlco` (the same
plus XLCo on the training pairs). Reported: kk→ru and ru→kk top-1 on the held-out pairs (mean-pooled
last layer, as `xling eval`), beside the char-n-gram baseline on the same pairs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CORPUS = "parallel/kk-ru/apertium_kaz_rus_CORPUS"
HELD_OUT = ("election-kaz-660.xz", "election-ru-660.xz")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--out", default="runs/xlco")
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--margin", type=float, default=0.3)
    ap.add_argument("--queue", type=int, default=128)
    ap.add_argument("--xlco-weight", type=float, default=1.0)
    ap.add_argument("--momentum", type=float, default=0.999)
    args = ap.parse_args()

    import sentencepiece as spm
    import yaml
    from sentencepiece import sentencepiece_model_pb2
    from transformers import XLMRobertaTokenizer

    from eval_xtreme.baselines import char_ngram_search
    from eval_xtreme.retrieval import Encoder, nearest_neighbours
    from xling.core.config import load_config
    from xling.core.paths import data_root
    from xling.parallel import read_aligned
    from xling.pretrain import PretrainConfig, pretrain

    root = data_root() / CORPUS
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    held = [(k.strip(), r.strip()) for k, r in read_aligned(root / HELD_OUT[0], root / HELD_OUT[1])
            if k.strip() and r.strip()]
    held_kk, held_ru = {k for k, _ in held}, {r for _, r in held}
    sources = yaml.safe_load(Path("recipes/parallel-kk-ru-apertium.yaml").read_text(encoding="utf-8"))["sources"]
    train: list[tuple[str, str]] = []
    for s in sources:
        if Path(s["src"]).name == HELD_OUT[0]:
            continue
        src = Path(s["src"].replace("$XLING_DATA", str(data_root())))
        tgt = Path(s["tgt"].replace("$XLING_DATA", str(data_root())))
        train += [(k.strip(), r.strip()) for k, r in read_aligned(src, tgt, unescape=True)
                  if k.strip() and r.strip() and k.strip() not in held_kk and r.strip() not in held_ru]
    train = list(dict.fromkeys(train))
    kk_file, ru_file = out / "train.kk", out / "train.ru"
    kk_file.write_text("\n".join(k for k, _ in train) + "\n", encoding="utf-8")
    ru_file.write_text("\n".join(r for _, r in train) + "\n", encoding="utf-8")
    print(f"training pairs {len(train)}, held-out pairs {len(held)}")

    tok_dir = out / "tokenizer"
    if not (tok_dir / "tokenizer.json").exists():
        tok_dir.mkdir(exist_ok=True)
        spm.SentencePieceTrainer.train(
            input=f"{kk_file},{ru_file}", model_prefix=str(tok_dir / "sentencepiece.bpe"), vocab_size=4000,
            model_type="unigram", character_coverage=1.0, num_threads=1, bos_id=0, pad_id=1, eos_id=2, unk_id=3,
            normalization_rule_name="identity", minloglevel=2)
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString((tok_dir / "sentencepiece.bpe.model").read_bytes())
        tok = XLMRobertaTokenizer(vocab=[(p.piece, p.score) for p in proto.pieces] + [("<mask>", 0.0)])
        tok.save_pretrained(str(tok_dir))

    base = {
        "tokenizer": str(tok_dir), "seed": 0,
        "data": {"files": {"kaz_Cyrl": str(kk_file), "rus_Cyrl": str(ru_file)}, "max_len": 64, "alpha": 0.5,
                 "eval_fraction": 0.0},
        "model": {"size": "tiny", "num_layers": 2, "hidden_size": 128, "num_heads": 4, "intermediate_size": 256,
                  "dropout": 0.1, "attention_dropout": 0.1},
        "train": {"max_steps": args.steps, "global_batch_size": 32, "micro_batch_size": 32, "lr": 2e-3,
                  "warmup_steps": max(1, args.steps // 10), "log_every": 25, "eval_every": 0, "save_every": args.steps,
                  "keep_last": 1, "progress": False, "report_to": [], "threads": 1, "precision": "fp32"},
    }
    pairs = {"sources": [{"src": str(kk_file), "tgt": str(ru_file), "src_lang": "kaz_Cyrl", "tgt_lang": "rus_Cyrl"}]}
    arms = {"mlm": {"objectives": [{"name": "mlm", "weight": 1.0}]},
            "mlm+xlco": {"objectives": [{"name": "mlm", "weight": 1.0},
                                        {"name": "xlco", "weight": args.xlco_weight, "temperature": args.temperature,
                                         "margin": args.margin, "queue_size": args.queue, "momentum": args.momentum}],
                         "parallel": pairs}}
    src, trg = [k for k, _ in held], [r for _, r in held]
    gold = list(range(len(held)))

    def acc(pred: list[int]) -> float:
        return 100 * sum(p == g for p, g in zip(pred, gold, strict=True)) / len(gold)

    fwd, bwd = char_ngram_search(src, trg, both_directions=True)
    print(f"| baseline:char-ngram | {acc(fwd):.1f} | {acc(bwd):.1f} |")
    for name, extra in arms.items():
        # One folder per setting: a finished arm is reused, never silently continued with other settings.
        folder = out / (f"mlm-{args.steps}" if name == "mlm" else f"xlco-{args.steps}-t{args.temperature}-m{args.margin}"
                        f"-q{args.queue}-mu{args.momentum}-w{args.xlco_weight}")
        pretrain(load_config(PretrainConfig, None, [], flags={**base, **extra}), folder)
        enc = Encoder(str(folder / "final"), layer=-1, max_length=64, batch_size=64)
        s, t = enc(src), enc(trg)
        print(f"| {name} ({args.steps} steps) | {acc(nearest_neighbours(s, t)):.1f} | "
              f"{acc(nearest_neighbours(t, s)):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
