"""Time per evaluation task on CPU with a tiny model, as ratios to a baseline measured in the same run.

Model: a randomly initialised 2-layer, 64-wide XLM-R with a 1,000-piece SentencePiece vocabulary
trained here on real kk/ug/en/ru/tr text (the test suite's `tiny_encoder`), or `--model DIR`.
Every task runs through `eval_xtreme.runner.run_eval` exactly as `xling eval run` does
(fine-tuning `--steps` steps on `--train` English examples, then the whole test set of one
language, capped at `--max-eval`), each in a fresh output folder.

Baseline: Tatoeba kk→en retrieval (575 + 575 sentences) with one torch thread, after an untimed
warm-up run (imports, first model read). The baseline is also timed with torch's default thread
count, because on the shared, busy 2-core machine one thread was several times faster.
Each task's time is end to end: model load, fine-tuning, English dev selection, test prediction,
scoring and writing outputs.

    .venv/bin/python bench/eval_tasks.py --steps 20 --train 200 --max-eval 500
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

TINY_SOURCES = {
    "kaz_Cyrl": "mono/kk/common_voice/sentence-collector.txt.xz",
    "uig_Arab": "mono/ug/common_voice/sentence-collector.txt.xz",
    "eng_Latn": "lid/lingua_testdata/sentences/en.txt.xz",
    "rus_Cyrl": "lid/lingua_testdata/sentences/ru.txt.xz",
    "tur_Latn": "lid/lingua_testdata/sentences/tr.txt.xz",
}
BASELINE = "tatoeba_turkic:kk"
TASKS = ["flores_en_ug", "xwmt_en_kk", "udpos_turkic:ug", "kaznerd", "kazqad", "xnli:de", "pawsx:de", "xquad:de"]


def tiny_model(folder: Path) -> Path:
    """The test suite's tiny encoder, built from scratch (no downloads)."""
    import sentencepiece as spm
    import torch
    from sentencepiece import sentencepiece_model_pb2
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForMaskedLM, XLMRobertaTokenizer

    from xling.core.io import read_lines
    from xling.core.paths import data_root

    folder.mkdir(parents=True, exist_ok=True)
    inputs = []
    for lang, rel in TINY_SOURCES.items():
        p = folder / f"{lang}.txt"
        p.write_text("\n".join([ln for ln in read_lines(data_root() / rel) if ln.strip()][:1500]) + "\n",
                     encoding="utf-8")
        inputs.append(str(p))
    spm.SentencePieceTrainer.train(
        input=",".join(inputs), model_prefix=str(folder / "sentencepiece.bpe"), vocab_size=1000,
        model_type="unigram", character_coverage=0.9995, num_threads=1, bos_id=0, pad_id=1, eos_id=2, unk_id=3,
        input_sentence_size=10000, shuffle_input_sentence=False, normalization_rule_name="identity", minloglevel=2)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((folder / "sentencepiece.bpe.model").read_bytes())
    XLMRobertaTokenizer(vocab=[(p.piece, p.score) for p in proto.pieces] + [("<mask>", 0.0)]).save_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(str(folder))
    torch.manual_seed(0)
    cfg = XLMRobertaConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=128, max_position_embeddings=130, pad_token_id=tok.pad_token_id,
                           bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    XLMRobertaForMaskedLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def run_one(model: str, spec: str, out: Path, args: argparse.Namespace, threads: int) -> dict:
    from eval_xtreme.finetune import FinetuneConfig
    from eval_xtreme.runner import EvalConfig, run_eval

    # The bench times the pipeline: XNLI/PAWS-X English training data is only a format fixture here.
    cfg = EvalConfig(model=model, tasks=[spec], out=str(out), threads=threads, max_eval_examples=args.max_eval,
                     allow_fixtures=True, bootstrap_resamples=0,
                     finetune=FinetuneConfig(max_steps=args.steps, max_train_examples=args.train, batch_size=16,
                                             max_dev_examples=64, eval_batch_size=64))
    t0 = time.perf_counter()
    results = run_eval(cfg)
    seconds = time.perf_counter() - t0
    name = spec.split(":")[0]
    det = results["details"][name]
    n_test = sum(d["examples"] for d in det["data"].values())
    from eval_xtreme.metrics import primary_score
    from eval_xtreme.tasks import get_task

    scores = {lg: primary_score(get_task(name).metric, s) for lg, s in results["tasks"][name].items()}
    return {"task": spec, "seconds": seconds, "test_examples": n_test, "scores": scores}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: build the tiny test encoder)")
    ap.add_argument("--steps", type=int, default=20, help="fine-tuning steps per task")
    ap.add_argument("--train", type=int, default=200, help="English training examples (subsample)")
    ap.add_argument("--max-eval", type=int, default=500, help="test examples per language")
    ap.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task specs")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    default_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        tmp_path = Path(tmp)
        model = args.model or str(tiny_model(tmp_path / "tiny"))
        # Untimed warm-up: the first run pays for importing transformers and reading the model.
        run_one(model, BASELINE, tmp_path / "warmup", args, 1)
        base = run_one(model, BASELINE, tmp_path / "base", args, 1)
        base_multi = run_one(model, BASELINE, tmp_path / "base-multi", args, default_threads)
        rows = [base]
        for spec in [s.strip() for s in args.tasks.split(",") if s.strip()]:
            rows.append(run_one(model, spec, tmp_path / spec.replace(":", "_"), args, 1))
    torch.set_num_threads(default_threads)
    print(f"\nmodel: {args.model or 'tiny 2x64 XLM-R, 1,000 pieces'}; fine-tuning {args.steps} steps on "
          f"{args.train} English examples; ≤{args.max_eval} test examples; 1 torch thread")
    print(f"baseline {BASELINE}: {base['seconds']:.1f} s with 1 thread, {base_multi['seconds']:.1f} s with "
          f"{default_threads} threads (ratio {base_multi['seconds'] / base['seconds']:.2f}x)\n")
    print("| task | test examples | seconds | × baseline | primary score |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        shown = ", ".join(f"{lg} {v:.1f}" for lg, v in r["scores"].items())
        print(f"| {r['task']} | {r['test_examples']:,} | {r['seconds']:.1f} | {r['seconds'] / base['seconds']:.2f} "
              f"| {shown} |")
    from benchlib import conditions, emit, peak_rss_mb

    for r in rows[1:]:
        emit("eval_tasks", f"{r['task']} time / Tatoeba kk→en time", round(r["seconds"] / base["seconds"], 3), None,
             higher_is_better=False, peak_rss_mb=round(peak_rss_mb()), **conditions())
    return 0


if __name__ == "__main__":
    sys.exit(main())
