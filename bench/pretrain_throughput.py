"""Tokens/s of `xling pretrain` against Hugging Face `Trainer` + `DataCollatorForLanguageModeling`.

Both sides train the same XLM-R config (default: the debug preset, 4 layers × 256 hidden) on the
same packed 128-token sequences of real kk/ug/ru/en text, same batch size, same precision
(what `train.precision: auto` picks on this machine), with 15% / 80-10-10 masking. Each side runs
in its own subprocess so peak memory (VmHWM) is measured separately; the first step of each side
is a warm-up and is not timed.

    .venv/bin/python bench/pretrain_throughput.py --tokenizer TOKENIZER_DIR [--steps 8] [--batch 32]

Without --tokenizer a SentencePiece unigram model of --vocab-size pieces is trained on the same
text first (XLM-R special ids). Prints one line per side and the ratio.
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

from xling.core.io import read_jsonl

REPO = Path(__file__).resolve().parents[1]
SOURCES = {
    "kaz_Cyrl": "mono/kk/common_voice/sentence-collector.txt.xz",
    "uig_Arab": "mono/ug/common_voice/sentence-collector.txt.xz",
    "rus_Cyrl": "lid/lingua_testdata/sentences/ru.txt.xz",
    "eng_Latn": "lid/lingua_testdata/sentences/en.txt.xz",
}


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


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
            "model": {"size": args.model},
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
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{side} side failed (exit {proc.returncode})")
            results[side] = json.loads(line[len("RESULT "):])
        from transformers import AutoTokenizer

        vocab = len(AutoTokenizer.from_pretrained(args.tokenizer))
        print(f"model {args.model}, vocab {vocab}, batch {args.batch} × {args.seq} tokens, {args.steps} steps "
              f"(first not timed), {args.threads} threads")
        for r in results.values():
            print(f"  {r['side']:<46} {r['tokens_per_s']:8.0f} tokens/s   peak RSS {r['peak_rss_mb']:7.0f} MB   "
                  f"({r['precision']})")
        ratio = results["ours"]["tokens_per_s"] / results["hf"]["tokens_per_s"]
        print(f"ratio xling / HF Trainer: {ratio:.2f}×  (target ≥ 2.5×)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
