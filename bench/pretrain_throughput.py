"""Tokens/s of `xling pretrain` against Hugging Face `Trainer` + `DataCollatorForLanguageModeling`.

Both sides train the same XLM-R config (default: the debug preset, 4 layers × 256 hidden) on the
same packed 128-token sequences of real kk/ug/ru/en text, same batch size, same precision
(what `train.precision: auto` picks on this machine), with 15% / 80-10-10 masking. Each side runs
in its own subprocess so peak memory (VmHWM) is measured separately; the first step of each side
is a warm-up and is not timed.

    .venv/bin/python bench/pretrain_throughput.py --tokenizer TOKENIZER_DIR [--steps 8] [--batch 32]

Without --tokenizer a SentencePiece unigram model of --vocab-size pieces is trained on the same
text first (XLM-R special ids). Prints one line per side and the ratio.

MFU (model FLOPs utilisation): model FLOPs per token × tokens/s ÷ this CPU's peak matmul FLOP/s
(`bench/matmul_peak.py`, same thread count, the precision the run used), measured in the same run.
Model FLOPs per token count what an MLM step needs, 3 × the forward pass (backward = 2 × forward)
at 2 FLOPs per multiply-add: per layer the QKV/output projections and the FFN, 2·(4h² + 2hf), and
attention's scores and weighted sum, 4sh; the MLM head (h×h transform + h×V decoder) at the 15%
selected positions only. Both sides are charged the same FLOPs per token (HF's head computes logits
at every position; that extra work counts as waste, not as model FLOPs).

    .venv/bin/python bench/pretrain_throughput.py --layers 6 --hidden 384   # the 6-layer/384 model
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import peak_rss_mb

from xling.core.io import read_jsonl

REPO = Path(__file__).resolve().parents[1]
SOURCES = {
    "kaz_Cyrl": "mono/kk/common_voice/sentence-collector.txt.xz",
    "uig_Arab": "mono/ug/common_voice/sentence-collector.txt.xz",
    "rus_Cyrl": "lid/lingua_testdata/sentences/ru.txt.xz",
    "eng_Latn": "lid/lingua_testdata/sentences/en.txt.xz",
}


def model_flops_per_token(layers: int, hidden: int, ffn: int, vocab: int, seq: int, select: float = 0.15) -> float:
    """Training FLOPs per token of an XLM-R MLM step (see the module docstring for the count)."""
    forward = layers * (2 * (4 * hidden ** 2 + 2 * hidden * ffn) + 4 * seq * hidden)
    forward += select * 2 * (hidden ** 2 + hidden * vocab)
    return 3 * forward


def build_tokenizer(folder: Path, vocab_size: int) -> Path:
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2
    from transformers import XLMRobertaTokenizer

    from xling.core.io import read_lines
    from xling.core.paths import data_root

    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "text.txt"
    text.write_text("\n".join(ln for rel in SOURCES.values() for ln in read_lines(data_root() / rel)), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(folder / "sentencepiece.bpe"), vocab_size=vocab_size,
                                   model_type="unigram", character_coverage=0.9995, num_threads=2, bos_id=0, pad_id=1,
                                   eos_id=2, unk_id=3, normalization_rule_name="identity", minloglevel=2,
                                   hard_vocab_limit=False)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((folder / "sentencepiece.bpe.model").read_bytes())
    XLMRobertaTokenizer(vocab=[(p.piece, p.score) for p in proto.pieces] + [("<mask>", 0.0)]).save_pretrained(str(folder))
    text.unlink()
    return folder


def xling_config(args: argparse.Namespace, work: Path) -> object:
    from xling.core.paths import data_root

    files = {lang: str(data_root() / rel) for lang, rel in SOURCES.items()}
    base = {"tokenizer": args.tokenizer, "seed": 0,
            "data": {"files": files, "max_len": args.seq, "cache_dir": str(work / "cache"), "alpha": 0.3},
            "model": {"size": args.model, "num_layers": args.layers, "hidden_size": args.hidden,
                      "num_heads": args.hidden // 64 if args.hidden else None,
                      "intermediate_size": 4 * args.hidden if args.hidden else None},
            "train": {"max_steps": args.steps, "global_batch_size": args.batch, "micro_batch_size": args.batch,
                      "lr": 5e-4, "warmup_steps": 1, "log_every": 1, "eval_every": 0, "save_every": 10**9,
                      "progress": False, "report_to": [], "threads": args.threads}}
    from xling.core.config import from_dict
    from xling.pretrain import PretrainConfig

    return from_dict(PretrainConfig, base)


def run_ours(args: argparse.Namespace, work: Path) -> dict:
    from xling.pretrain import pretrain

    cfg = xling_config(args, work)
    out = work / "ours"
    pretrain(cfg, out)
    rows = list(read_jsonl(out / "metrics.jsonl"))
    steps = [r for r in rows if "loss" in r][1:]  # step 1 is the warm-up
    tokens = len(steps) * args.batch * args.seq
    seconds = sum(args.batch * args.seq / r["tokens_per_s"] for r in steps)
    from xling.trainer import resolve_precision

    return {"side": "xling pretrain", "tokens_per_s": tokens / seconds, "steps_timed": len(steps),
            "precision": resolve_precision(cfg.train, __import__("torch").device("cpu")),
            "peak_rss_mb": peak_rss_mb(), "final_loss": steps[-1]["loss"]}


def run_hf(args: argparse.Namespace, work: Path) -> dict:
    import torch
    from transformers import (
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from xling.data import MonoPlan, load_shards, prepare_shards
    from xling.model import build_model
    from xling.objectives import SpecialIds
    from xling.trainer import resolve_precision

    torch.set_num_threads(args.threads)
    cfg = xling_config(args, work)
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    special = SpecialIds.from_tokenizer(tok)
    shards = load_shards(prepare_shards(cfg.data, Path(args.tokenizer), Path(cfg.data.cache_dir), progress=False))
    block = args.seq - 2
    n = args.steps * args.batch
    plan = MonoPlan({k: len(v.train) for k, v in shards.items()}, block, n, 0, cfg.data.alpha_schedule_obj())
    streams = {k: v.train for k, v in shards.items()}
    # the same packed sequences xling trains on, framed <s> … </s>
    rows = [{"input_ids": [special.bos, *plan.example(streams, i).ids.tolist(), special.eos]} for i in range(n)]
    torch.manual_seed(0)
    model = build_model(cfg.model, special, args.seq)
    precision = resolve_precision(cfg.train, torch.device("cpu"))

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):
            times.append(time.perf_counter())

    targs = TrainingArguments(output_dir=str(work / "hf"), per_device_train_batch_size=args.batch, max_steps=args.steps,
                              learning_rate=5e-4, warmup_steps=1, logging_steps=10**9, save_strategy="no",
                              report_to=[], use_cpu=True, bf16=precision == "bf16", dataloader_num_workers=0,
                              disable_tqdm=True, seed=0)
    collator = DataCollatorForLanguageModeling(tok, mlm=True, mlm_probability=0.15)
    trainer = Trainer(model=model, args=targs, train_dataset=rows, data_collator=collator, callbacks=[Clock()])
    trainer.train()
    timed = len(times) - 1
    return {"side": "HF Trainer + DataCollatorForLanguageModeling",
            "tokens_per_s": timed * args.batch * args.seq / (times[-1] - times[0]), "steps_timed": timed,
            "precision": precision, "peak_rss_mb": peak_rss_mb()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokenizer", help="HF tokenizer folder (XLM-R special ids); default: train one")
    p.add_argument("--vocab-size", type=int, default=32000)
    p.add_argument("--model", default="debug", choices=["tiny", "debug", "base", "large"])
    p.add_argument("--layers", type=int, default=None, help="override the preset's layer count")
    p.add_argument("--hidden", type=int, default=None, help="override the hidden size (heads = hidden/64, ffn = 4×)")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--side", choices=["ours", "hf"], help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.side:
        work = Path(args.work)
        res = run_ours(args, work) if args.side == "ours" else run_hf(args, work)
        print("RESULT " + json.dumps(res))
        return 0
    with tempfile.TemporaryDirectory(prefix="xling-bench-") as tmp:
        work = Path(tmp)
        if not args.tokenizer:
            print(f"training a {args.vocab_size}-piece SentencePiece tokenizer on the benchmark text …", flush=True)
            args.tokenizer = str(build_tokenizer(work / "tok", args.vocab_size))
        results = {}
        for side in ("hf", "ours"):
            cmd = [sys.executable, __file__, "--side", side, "--work", str(work), "--tokenizer", args.tokenizer,
                   "--model", args.model, "--steps", str(args.steps), "--batch", str(args.batch),
                   "--seq", str(args.seq), "--threads", str(args.threads)]
            cmd += [*(["--layers", str(args.layers)] if args.layers else []),
                    *(["--hidden", str(args.hidden)] if args.hidden else [])]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{side} side failed (exit {proc.returncode})")
            results[side] = json.loads(line[len("RESULT "):])
        from matmul_peak import peak_matmul_flops
        from transformers import AutoTokenizer

        from xling.model import ModelConfig

        vocab = len(AutoTokenizer.from_pretrained(args.tokenizer))
        layers, hidden, _, ffn = ModelConfig(size=args.model, num_layers=args.layers, hidden_size=args.hidden,
                                             num_heads=args.hidden // 64 if args.hidden else None,
                                             intermediate_size=4 * args.hidden if args.hidden else None).shape()
        flops_token = model_flops_per_token(layers, hidden, ffn, vocab, args.seq)
        precision = results["ours"]["precision"]
        peak = peak_matmul_flops(precision, args.threads)
        name = f"{layers}x{hidden}"
        print(f"model {args.model} ({layers} layers × {hidden}, ffn {ffn}), vocab {vocab}, batch {args.batch} × "
              f"{args.seq} tokens, {args.steps} steps (first not timed), {args.threads} threads")
        print(f"model FLOPs/token {flops_token / 1e6:.1f} M; peak {precision} matmul {peak / 1e9:.1f} GFLOP/s "
              f"(2048², {args.threads} threads, best of 5)")
        for r in results.values():
            r["mfu"] = flops_token * r["tokens_per_s"] / peak
            print(f"  {r['side']:<46} {r['tokens_per_s']:8.0f} tokens/s   MFU {r['mfu']:6.1%}   peak RSS "
                  f"{r['peak_rss_mb']:7.0f} MB   ({r['precision']})")
        ratio = results["ours"]["tokens_per_s"] / results["hf"]["tokens_per_s"]
        print(f"ratio xling / HF Trainer: {ratio:.2f}×  (target ≥ 3×); xling MFU {results['ours']['mfu']:.1%} "
              "(target ≥ 50%)")
        from benchlib import conditions, emit

        common = {"threads": args.threads, "precision": precision, "peak_gflops": round(peak / 1e9, 1), **conditions()}
        emit("pretrain_throughput", f"xling / HF Trainer tokens/s ({name}, vocab {vocab})", round(ratio, 3), 3.0,
             peak_rss_mb=round(results["ours"]["peak_rss_mb"]), hf_peak_rss_mb=round(results["hf"]["peak_rss_mb"]),
             **common)
        emit("pretrain_throughput", f"xling MFU ({name}, vocab {vocab})", round(results["ours"]["mfu"], 3), 0.5,
             tokens_per_s=round(results["ours"]["tokens_per_s"]), peak_rss_mb=round(results["ours"]["peak_rss_mb"]),
             **common)
        emit("pretrain_throughput", f"HF Trainer MFU ({name}, vocab {vocab})", round(results["hf"]["mfu"], 3), None,
             tokens_per_s=round(results["hf"]["tokens_per_s"]), peak_rss_mb=round(results["hf"]["peak_rss_mb"]),
             **common)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
