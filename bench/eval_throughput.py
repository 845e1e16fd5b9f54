"""Evaluation speed: xling's fine-tuning and retrieval encoding against plain Hugging Face code.

Two ratios, each measured in the same run on the same model and data:

- **fine-tuning** (UD-POS from English-EWT, the demo's settings: batch 32, lr 1e-3, length-grouped
  batches, max 128 tokens, the whole treebank): `eval_xtreme.finetune.finetune` against HF `Trainer`
  with `DataCollatorForTokenClassification` and the label-the-first-subword preprocessing of HF's
  `run_ner.py`, `train_sampling_strategy="group_by_length"`, its default
  (fused) AdamW. Timed from the end of optimizer
  step `--warmup` to the end of the last step (a global optimizer hook, so both sides are timed at
  the same point); throughput counts the real (non-padding) tokens the model's embedding saw.
- **retrieval encoding** (the sentences the demo's retrieval tasks encode, `--max-eval` per set):
  `eval_xtreme.retrieval.Encoder` against the plain loop a user writes with `AutoModel` (batches of
  `--batch` in input order, `padding=True`, `torch.no_grad`, mean-pool of the last hidden layer).
  Both produce the same embeddings; the largest difference is printed.

Each side runs in its own subprocess (peak RSS per side, no shared warm caches). CPU time (user +
system of that process) is printed beside wall time; the ratio is taken on CPU time, which a
shared machine disturbs far less than the wall clock (with the default single thread: see --threads).

    .venv/bin/python bench/eval_throughput.py --model runs/demo/pretrain/xling/final [--steps 40]

Without --model a randomly initialised debug-size XLM-R (4 × 256, 8k-piece tokenizer trained on
the data root's text) is built first; throughput does not depend on the weights.
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

from benchlib import conditions, emit, peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
DEMO_MODEL = REPO / "runs/demo/pretrain/xling/final"
# the demo's retrieval tasks (recipes/kk-ug-demo.yaml)
RETRIEVAL = ("tatoeba_turkic", "flores_en_ug", "xwmt_en_kk", "tatoeba:kk+tr+ru",
             "tatoeba_challenge:kk-ru+kk-en+ug-en+ug-ru+ug-tr")


class StepClock:
    """(wall, cpu) at the end of every optimizer step and the real/padded tokens each training forward
    saw, for any optimizer and model (global hooks, so neither side's code is touched)."""

    def __init__(self, vocab_size: int, pad_id: int) -> None:
        import torch

        self.marks: list[tuple[float, float, int, int]] = []
        self.real = self.padded = 0

        def on_step(*_):
            self.marks.append((time.perf_counter(), time.process_time(), self.real, self.padded))

        def on_forward(module, args):
            # the word embedding sees every training batch once (position embeddings are smaller)
            if module.training and isinstance(module, torch.nn.Embedding) and module.num_embeddings == vocab_size:
                ids = args[0]
                self.real += int((ids != pad_id).sum())
                self.padded += ids.numel()

        from torch.optim.optimizer import register_optimizer_step_post_hook

        register_optimizer_step_post_hook(on_step)
        torch.nn.modules.module.register_module_forward_pre_hook(on_forward)

    def summary(self, warmup: int) -> dict:
        (w0, c0, r0, p0), (w1, c1, r1, p1) = self.marks[warmup - 1], self.marks[-1]
        steps = len(self.marks) - warmup
        return {"steps_timed": steps, "wall_s": w1 - w0, "cpu_s": c1 - c0, "real_tokens": r1 - r0,
                "padded_tokens": p1 - p0, "tokens_per_cpu_s": (r1 - r0) / (c1 - c0),
                "tokens_per_wall_s": (r1 - r0) / (w1 - w0), "cpu_ms_per_step": 1e3 * (c1 - c0) / steps}


def finetune_config(args: argparse.Namespace):
    from eval_xtreme.finetune import FinetuneConfig

    # the demo's finetune section, cut to --steps; no dev set (selection is not what is timed)
    return FinetuneConfig(learning_rate=1e-3, batch_size=32, eval_batch_size=64, max_steps=args.steps,
                          max_seq_length=128, eval_every=0, save_every=0, seed=42, group_by_length=True)


def ewt_train():
    from eval_xtreme.loaders import load_split
    from eval_xtreme.tasks import TASKS

    task = TASKS.get("udpos")
    return task, load_split(task, "train", "en", None, False)[0]


def run_ft_ours(args: argparse.Namespace, work: Path) -> dict:
    from transformers import AutoTokenizer

    from eval_xtreme.finetune import finetune

    tok = AutoTokenizer.from_pretrained(args.model)
    task, train = ewt_train()
    clock = StepClock(len(tok), tok.pad_token_id)
    t0, c0 = time.perf_counter(), time.process_time()
    finetune(task, args.model, train, [], work / "ours", finetune_config(args))
    return {"side": "xling finetune", **clock.summary(args.warmup), "total_wall_s": time.perf_counter() - t0,
            "total_cpu_s": time.process_time() - c0, "peak_rss_mb": peak_rss_mb()}


def run_ft_hf(args: argparse.Namespace, work: Path, sampler: str) -> dict:
    import torch
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    cfg = finetune_config(args)
    tok = AutoTokenizer.from_pretrained(args.model)
    task, train = ewt_train()
    clock = StepClock(len(tok), tok.pad_token_id)
    t0, c0 = time.perf_counter(), time.process_time()
    label2id = {lab: i for i, lab in enumerate(task.labels)}
    # run_ner.py's tokenize_and_align_labels: the label on each word's first subword
    enc = tok([ex.tokens for ex in train], is_split_into_words=True, truncation=True, max_length=cfg.max_seq_length)
    rows = []
    for i, ex in enumerate(train):
        prev, labels = None, []
        for w in enc.word_ids(i):
            labels.append(-100 if w is None or w == prev else label2id[ex.tags[w]])
            prev = w
        rows.append({"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i], "labels": labels})
    torch.manual_seed(cfg.seed)
    model = AutoModelForTokenClassification.from_pretrained(
        args.model, num_labels=len(task.labels), id2label=dict(enumerate(task.labels)), label2id=label2id)
    targs = TrainingArguments(output_dir=str(work / "hf"), per_device_train_batch_size=cfg.batch_size,
                              learning_rate=cfg.learning_rate, max_steps=cfg.max_steps,
                              warmup_steps=int(cfg.warmup_ratio * cfg.max_steps),
                              lr_scheduler_type="linear", weight_decay=cfg.weight_decay,
                              max_grad_norm=cfg.max_grad_norm, train_sampling_strategy=sampler,
                              logging_steps=10**9,
                              save_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0,
                              disable_tqdm=True, seed=cfg.seed)
    trainer = Trainer(model=model, args=targs, train_dataset=rows, data_collator=DataCollatorForTokenClassification(tok))
    trainer.train()
    trainer.save_model(str(work / "hf" / "final"))  # xling's run ends with its model saved too
    return {"side": f"HF Trainer, {sampler} batches", **clock.summary(args.warmup),
            "total_wall_s": time.perf_counter() - t0, "total_cpu_s": time.process_time() - c0,
            "peak_rss_mb": peak_rss_mb()}


def retrieval_sentences(max_eval: int) -> list[str]:
    """Every sentence the demo's retrieval tasks encode, in the order they encode them."""
    from eval_xtreme.loaders import load_split
    from eval_xtreme.tasks import parse_task_spec

    out: list[str] = []
    for spec in RETRIEVAL:
        task, langs = parse_task_spec(spec)
        for lang in langs:
            try:
                rs = load_split(task, "test", lang, None, False)[0].first(max_eval)
            except FileNotFoundError:
                continue
            out += [*rs.source, *rs.target]
    return out


def run_enc(args: argparse.Namespace, work: Path, side: str) -> dict:
    import numpy as np
    import torch

    sentences = retrieval_sentences(args.max_eval)
    if side == "ours":
        from eval_xtreme.retrieval import Encoder

        encoder = Encoder(args.model, -1, 128, args.batch)
        t0, c0 = time.perf_counter(), time.process_time()
        emb = encoder(sentences)
        name = "xling Encoder"
    else:
        from transformers import AutoModel, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(args.model)
        model = AutoModel.from_pretrained(args.model).eval()
        t0, c0 = time.perf_counter(), time.process_time()
        parts = []
        with torch.no_grad():
            for i in range(0, len(sentences), args.batch):
                batch = tok(sentences[i:i + args.batch], padding=True, truncation=True, max_length=128,
                            return_tensors="pt")
                hidden = model(**batch, output_hidden_states=True).hidden_states[-1]
                mask = batch["attention_mask"].unsqueeze(-1).float()
                parts.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
        emb = np.concatenate(parts)
        name = "plain HF AutoModel loop"
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    np.save(work / f"enc-{side}.npy", emb)
    return {"side": name, "sentences": len(sentences), "wall_s": wall, "cpu_s": cpu,
            "sentences_per_cpu_s": len(sentences) / cpu, "sentences_per_wall_s": len(sentences) / wall,
            "peak_rss_mb": peak_rss_mb()}


def random_model(work: Path) -> str:
    """A debug-size XLM-R with random weights and an 8k-piece tokenizer (throughput only)."""
    import torch
    from pretrain_throughput import build_tokenizer
    from transformers import AutoTokenizer

    from xling.model import ModelConfig, build_model
    from xling.objectives import SpecialIds

    folder = build_tokenizer(work / "model", 8000)
    tok = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    build_model(ModelConfig(size="debug"), SpecialIds.from_tokenizer(tok), 128).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def side(args: argparse.Namespace, work: Path, name: str) -> dict:
    cmd = [sys.executable, __file__, "--side", name, "--work", str(work), "--model", args.model, "--steps",
           str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads), "--batch", str(args.batch),
           "--max-eval", str(args.max_eval)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"side {name} failed (exit {proc.returncode})")
    return json.loads(line[len("RESULT "):])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help=f"from_pretrained folder (default: {DEMO_MODEL.relative_to(REPO)} if it "
                                   "exists, else a random debug-size model)")
    p.add_argument("--steps", type=int, default=40, help="fine-tuning steps per side")
    p.add_argument("--warmup", type=int, default=5, help="optimizer steps not timed")
    # one intra-op thread: its CPU time is the work done; with two, a thread that waits for its
    # preempted partner spins, and on a shared machine that inflated CPU time up to 2× (measured)
    p.add_argument("--threads", type=int, default=1, help="torch threads per side (2 on an idle 2-core machine)")
    p.add_argument("--batch", type=int, default=64, help="retrieval encoding batch (the demo's)")
    p.add_argument("--max-eval", type=int, default=300, help="sentences per retrieval set (the demo's)")
    p.add_argument("--only", choices=["finetune", "retrieval"])
    p.add_argument("--side", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.side:
        import torch

        torch.set_num_threads(args.threads)
        work = Path(args.work)
        runs = {"ft-ours": run_ft_ours, "ft-hf": lambda a, w: run_ft_hf(a, w, "group_by_length"),
                "ft-hf-random": lambda a, w: run_ft_hf(a, w, "random"),
                "enc-ours": lambda a, w: run_enc(a, w, "ours"), "enc-hf": lambda a, w: run_enc(a, w, "hf")}
        print("RESULT " + json.dumps(runs[args.side](args, work)))
        return 0
    if args.steps <= args.warmup:
        raise SystemExit(f"--steps {args.steps} must exceed --warmup {args.warmup}")
    with tempfile.TemporaryDirectory(prefix="xling-bench-") as tmp:
        work = Path(tmp)
        if not args.model:
            if DEMO_MODEL.is_dir():
                args.model = str(DEMO_MODEL)
            else:
                print("no --model and no demo model: building a random debug-size model …", flush=True)
                args.model = random_model(work)
        common = {"model": args.model, "threads": args.threads, **conditions()}
        print(f"model {args.model}, {args.threads} threads")
        if args.only in (None, "finetune"):
            hf, ours, default = side(args, work, "ft-hf"), side(args, work, "ft-ours"), side(args, work, "ft-hf-random")
            print(f"fine-tuning UD-POS (EWT train, batch 32), {args.steps} steps, the first {args.warmup} not timed:")
            for r in (hf, default, ours):
                print(f"  {r['side']:<32} {r['tokens_per_cpu_s']:7.0f} tokens/CPU-s {r['tokens_per_wall_s']:7.0f}"
                      f" tokens/s wall  {r['cpu_ms_per_step']:6.0f} CPU-ms/step  padding "
                      f"{1 - r['real_tokens'] / r['padded_tokens']:5.1%}  whole run {r['total_cpu_s']:6.1f} CPU-s"
                      f"  peak RSS {r['peak_rss_mb']:5.0f} MB")
            # MFU: model FLOPs per real token (3 × forward: each block's projections and FFN, attention over
            # the batch's mean padded width, the tag classifier) × tokens per CPU-second ÷ this CPU's peak
            # fp32 matmul FLOP/s per thread (CPU time already counts every thread)
            from matmul_peak import peak_matmul_flops
            from transformers import AutoConfig

            mc = AutoConfig.from_pretrained(args.model)
            width = ours["padded_tokens"] / ours["steps_timed"] / 32
            h, f = mc.hidden_size, mc.intermediate_size
            from eval_xtreme.tasks import TASKS

            n_tags = len(TASKS.get("udpos").labels)
            flops = 3 * (mc.num_hidden_layers * (2 * (4 * h * h + 2 * h * f) + 4 * width * h) + 2 * h * n_tags)
            peak = peak_matmul_flops("fp32", 1)
            print(f"model FLOPs/token {flops / 1e6:.1f} M; peak fp32 matmul {peak / 1e9:.1f} GFLOP/s per thread; "
                  f"MFU xling {flops * ours['tokens_per_cpu_s'] / peak:.0%}, HF Trainer length-grouped "
                  f"{flops * hf['tokens_per_cpu_s'] / peak:.0%}, random {flops * default['tokens_per_cpu_s'] / peak:.0%}")
            ratio = ours["tokens_per_cpu_s"] / hf["tokens_per_cpu_s"]
            print(f"ratio xling / HF Trainer with length-grouped batches (tokens per CPU second): {ratio:.2f}×  "
                  f"(target ≥ 2×); wall: {ours['tokens_per_wall_s'] / hf['tokens_per_wall_s']:.2f}×")
            # Trainer's default sampler pads every random batch to its longest sentence: the same real
            # tokens cost more compute
            vs_default = ours["tokens_per_cpu_s"] / default["tokens_per_cpu_s"]
            print(f"ratio xling / HF Trainer with its default random batches (tokens per CPU second): "
                  f"{vs_default:.2f}×")
            emit("eval_throughput", "fine-tuning xling / HF Trainer, length-grouped (tokens per CPU-s)",
                 round(ratio, 3), 2.0, peak_rss_mb=round(ours["peak_rss_mb"]), hf_peak_rss_mb=round(hf["peak_rss_mb"]),
                 cpu_ms_per_step=round(ours["cpu_ms_per_step"], 1), hf_cpu_ms_per_step=round(hf["cpu_ms_per_step"], 1),
                 mfu=round(flops * ours["tokens_per_cpu_s"] / peak, 3), **common)
            emit("eval_throughput", "fine-tuning xling / HF Trainer, its default random batches (tokens per CPU-s)",
                 round(vs_default, 3), 2.0, peak_rss_mb=round(ours["peak_rss_mb"]),
                 hf_peak_rss_mb=round(default["peak_rss_mb"]), hf_cpu_ms_per_step=round(default["cpu_ms_per_step"], 1),
                 **common)
        if args.only in (None, "retrieval"):
            hf, ours = side(args, work, "enc-hf"), side(args, work, "enc-ours")
            import numpy as np

            diff = float(np.abs(np.load(work / "enc-ours.npy") - np.load(work / "enc-hf.npy")).max())
            print(f"retrieval encoding, {ours['sentences']} sentences (the demo's retrieval sets, "
                  f"≤ {args.max_eval} per set), batch {args.batch}, model load not timed:")
            for r in (hf, ours):
                print(f"  {r['side']:<32} {r['sentences_per_cpu_s']:7.0f} sentences/CPU-s "
                      f"{r['sentences_per_wall_s']:7.0f} sentences/s wall  {r['cpu_s']:6.1f} CPU-s  "
                      f"peak RSS {r['peak_rss_mb']:5.0f} MB")
            ratio = ours["sentences_per_cpu_s"] / hf["sentences_per_cpu_s"]
            print(f"ratio xling / plain HF loop (sentences per CPU second): {ratio:.2f}×  (target ≥ 2×); wall: "
                  f"{ours['sentences_per_wall_s'] / hf['sentences_per_wall_s']:.2f}×; largest embedding "
                  f"difference {diff:.2e}")
            emit("eval_throughput", "retrieval encoding xling / plain HF loop (sentences per CPU-s)", round(ratio, 3),
                 2.0, peak_rss_mb=round(ours["peak_rss_mb"]), hf_peak_rss_mb=round(hf["peak_rss_mb"]),
                 max_abs_diff=diff, **common)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
