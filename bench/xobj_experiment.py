"""Cross-lingual objectives experiment: MLM vs MLM+TLM vs MLM+TLM+BT pairs vs MLM+CAMLM+BTMLM.

The same tiny model, data, seed and step budget per arm (recipes/xobj-*.yaml); evaluated without
fine-tuning by sentence retrieval (mean-pooled last-layer states, cosine nearest neighbour, xx→en
accuracy) on Tatoeba kaz/uig/tat/tur/rus and FLORES-200 dev uig→eng, with `eval_xtreme.retrieval`.
Scores are printed next to the MLM-only baseline of the same run. Steps (each skipped when its
output exists, so re-running resumes):

    python bench/xobj_experiment.py prepare   # decontaminated training text + kk-ru pairs + tokenizer
    python bench/xobj_experiment.py bt        # BT model on the kk-ru pairs, kk→ru pseudo pairs
    python bench/xobj_experiment.py arms      # xling pretrain recipes/xobj-<arm>.yaml --out runs/xobj/<arm>
    python bench/xobj_experiment.py eval      # retrieval scores → runs/xobj/results.{json,md}
    python bench/xobj_experiment.py all

Decontamination: every training line (monolingual and both sides of every pair) whose normalised
text (case-folded letters and digits only) equals a sentence of any evaluation set is dropped:
Tatoeba (kaz, uig, tat, tur, rus and their English sides), FLORES-200 dev, X-WMT, WMT newstest en-kk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

RUN = Path("runs/xobj")
DATA = RUN / "data"
ARMS = ["mlm", "mlm-tlm", "mlm-tlm-bt", "mlm-camlm-btmlm"]
# Scored too when present: arm 3 rerun on BT output with the length-ratio filter off (docs/experiments.md).
EXTRA_RUNS = ["mlm-tlm-bt-unfiltered"]
TATOEBA = ["kaz", "uig", "tat", "tur", "rus"]
MONO = {
    "kaz_Cyrl": ["mono/kk/common_voice/sentence-collector.txt.xz", "lid/lingua_testdata/sentences/kk.txt.xz"],
    "uig_Arab": ["mono/ug/common_voice/sentence-collector.txt.xz"],
    "rus_Cyrl": ["lid/lingua_testdata/sentences/ru.txt.xz"],
    "eng_Latn": ["lid/lingua_testdata/sentences/en.txt.xz"],
    "tur_Latn": ["lid/lingua_testdata/sentences/tr.txt.xz"],
}
XLING = [sys.executable, "-m", "xling.cli"]
_KEY = re.compile(r"[\W_]+", re.UNICODE)


def key(text: str) -> str:
    return _KEY.sub("", text.casefold())


def eval_files(root: Path) -> list[Path]:
    files = [root / f"tatoeba/tatoeba.{x}-eng.{s}" for x in TATOEBA for s in (x, "eng")]
    files += sorted((root / "parallel/en-ug/flores200/dev").glob("*.dev"))
    files += sorted((root / "parallel/xwmt").rglob("*.xz")) + sorted((root / "parallel/en-kk/wmt_newstest").rglob("*.xz"))
    return files


def prepare() -> None:
    from xling.io import read_lines, write_json_atomic, write_text_atomic
    from xling.parallel import ParallelConfig, load_parallel, write_tsv_pairs
    from xling.paths import data_root

    root = data_root()
    banned = {key(line) for f in eval_files(root) for line in read_lines(f) if key(line)}
    stats: dict[str, dict[str, int]] = {}
    for lang, rels in MONO.items():
        lines = [" ".join(x.split()) for rel in rels for x in read_lines(root / rel)]
        kept = [x for x in lines if x and key(x) not in banned]
        stats[lang] = {"lines": len(lines), "kept": len(kept), "eval_overlap": sum(1 for x in lines if x and key(x) in banned)}
        write_text_atomic(DATA / f"{lang}.txt", "\n".join(kept) + "\n")
    data = load_parallel(ParallelConfig(include=["recipes/parallel-kk-ru-apertium.yaml"], max_length_ratio=2.5))
    pairs = data.groups["kaz_Cyrl-rus_Cyrl"]
    kept_pairs = [(s, t) for s, t in pairs if key(s) not in banned and key(t) not in banned]
    stats["kk-ru pairs"] = {"lines": len(pairs), "kept": len(kept_pairs), "eval_overlap": len(pairs) - len(kept_pairs),
                            "cleaning": data.stats.to_json()["removed"]}
    write_tsv_pairs(DATA / "kk-ru.tsv", kept_pairs)
    write_json_atomic(RUN / "prepare_stats.json", {"eval_sentences": len(banned), **stats})
    train_tokenizer([DATA / f"{lang}.txt" for lang in MONO], kept_pairs)
    print(json.dumps(stats, ensure_ascii=False, indent=1))


def train_tokenizer(files: list[Path], pairs: list[tuple[str, str]], vocab_size: int = 8000) -> None:
    """SentencePiece unigram with XLM-R special ids, exported as a Hugging Face tokenizer folder."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2
    from transformers import XLMRobertaTokenizer

    out = RUN / "tokenizer"
    if (out / "tokenizer.json").is_file():
        return
    out.mkdir(parents=True, exist_ok=True)
    text = out / "train.txt"
    with open(text, "w", encoding="utf-8") as f:
        for p in files:
            f.write(p.read_text(encoding="utf-8"))
        for s, t in pairs:
            f.write(f"{s}\n{t}\n")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(out / "sentencepiece.bpe"), vocab_size=vocab_size,
                                   model_type="unigram", character_coverage=0.9995, num_threads=1, bos_id=0, pad_id=1,
                                   eos_id=2, unk_id=3, input_sentence_size=200000, shuffle_input_sentence=True,
                                   minloglevel=2)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((out / "sentencepiece.bpe.model").read_bytes())
    tok = XLMRobertaTokenizer(vocab=[(p.piece, p.score) for p in proto.pieces] + [("<mask>", 0.0)])
    tok.save_pretrained(str(out))
    text.unlink()


def run(cmd: list[str], log_name: str) -> float:
    print("$", " ".join(cmd), flush=True)
    t = time.time()
    with open(RUN / f"{log_name}.log", "a", encoding="utf-8") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    return time.time() - t


BT_TRAIN_SET = ["tokenizer=runs/xobj/tokenizer", "parallel.include=[]",
                "parallel.sources=[{src: runs/xobj/data/kk-ru.tsv, src_lang: kaz_Cyrl, tgt_lang: rus_Cyrl, format: tsv}]",
                "model.size=tiny", "model.d_model=128", "model.heads=4", "model.ffn=256", "model.max_len=64",
                "steps=600", "batch_size=16", "lr=2e-3", "warmup_steps=15", "eval_pairs=30", "eval_beams=1",
                "save_every=50", "threads=1"]
BT_TRANSLATE_SET = ["model=runs/xobj/bt/model", "inputs=[runs/xobj/data/kaz_Cyrl.txt]", "max_lines=600", "beams=1",
                    "batch_size=64", "lid=script", "min_roundtrip_chrf=0", "max_length_ratio=3.0",
                    "min_script_fraction=0.5"]


def bt() -> dict[str, float]:
    times = {}
    if not (RUN / "bt/model/config.json").is_file():
        times["bt_train_s"] = run([*XLING, "bt", "train", "recipes/bt-train-kk-ru.yaml", "--out", str(RUN / "bt"),
                                   *[a for s in BT_TRAIN_SET for a in ("--set", s)]], "bt-train")
    progress = RUN / "bt-pairs/progress.json"
    if not (progress.is_file() and json.loads(progress.read_text())["finished"]):
        times["bt_translate_s"] = run([*XLING, "bt", "translate", "recipes/bt-translate-kk-ru.yaml", "--out",
                                       str(RUN / "bt-pairs"), *[a for s in BT_TRANSLATE_SET for a in ("--set", s)]],
                                      "bt-translate")
    return times


def arms(only: list[str] | None = None) -> dict[str, float]:
    times = {}
    for arm in only or ARMS:
        if (RUN / arm / "final/config.json").is_file():
            continue
        times[arm] = run([*XLING, "pretrain", f"recipes/xobj-{arm}.yaml", "--out", str(RUN / arm)], f"pretrain-{arm}")
    return times


def retrieval_sets(root: Path) -> dict[str, tuple[list[str], list[str]]]:
    from xling.io import read_lines

    sets = {f"tatoeba-{x}": (read_lines(root / f"tatoeba/tatoeba.{x}-eng.{x}"),
                             read_lines(root / f"tatoeba/tatoeba.{x}-eng.eng")) for x in TATOEBA}
    sets["flores-uig"] = (read_lines(root / "parallel/en-ug/flores200/dev/uig_Arab.dev"),
                          read_lines(root / "parallel/en-ug/flores200/dev/eng_Latn.dev"))
    return sets


def random_init_model() -> Path:
    """The arms' architecture, untrained: the retrieval floor."""
    import torch
    from transformers import AutoTokenizer

    from xling.model import ModelConfig, build_model
    from xling.objectives.base import SpecialIds
    from xling.pretrain import load_pretrain_config

    out = RUN / "random-init"
    if (out / "config.json").is_file():
        return out
    cfg = load_pretrain_config("recipes/xobj-mlm.yaml")
    tok = AutoTokenizer.from_pretrained(str(RUN / "tokenizer"))
    torch.manual_seed(cfg.seed)
    model = build_model(ModelConfig(**vars(cfg.model)), SpecialIds.from_tokenizer(tok), cfg.data.max_len)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


def evaluate() -> dict:
    import numpy as np

    from eval_xtreme.loaders import RetrievalSet
    from eval_xtreme.retrieval import Encoder, similarity_search
    from xling.io import write_json_atomic, write_text_atomic
    from xling.paths import data_root
    from xling.report import bar_chart, markdown_table

    sets = retrieval_sets(data_root())
    models = {"random-init": random_init_model(), **{arm: RUN / arm / "final" for arm in ARMS + EXTRA_RUNS}}
    done_path = RUN / "results.json"
    # a model is scored once: re-running `eval` only scores arms finished since
    results: dict[str, dict[str, float]] = json.loads(done_path.read_text()) if done_path.is_file() else {}
    for name, path in models.items():
        if name in results:
            continue
        if not (path / "config.json").is_file():
            print(f"skipping {name}: {path} not trained", flush=True)
            continue
        enc = Encoder(str(path), layer=-1, max_length=64, batch_size=64)
        results[name] = {}
        for task, (src, tgt) in sets.items():
            rs = RetrievalSet(source=src, target=tgt, gold=list(range(len(src))))
            pred = similarity_search(rs, enc).xx_en
            results[name][task] = float(np.mean([p == g for p, g in zip(pred, rs.gold, strict=True)])) * 100
        results[name]["mean"] = float(np.mean([results[name][t] for t in sets]))
        print(name, json.dumps({k: round(v, 1) for k, v in results[name].items()}), flush=True)
        write_json_atomic(done_path, results)
    results = {name: results[name] for name in models if name in results}
    cols = [*sets, "mean"]
    base = results.get("mlm", {})
    rows = [[name, *[r[c] for c in cols], (r["mean"] - base["mean"]) if base else float("nan")]
            for name, r in results.items()]
    bar_chart(RUN / "results.png", {name: {t: r[t] for t in cols} for name, r in results.items()},
              "Retrieval accuracy (xx→en, %) by pretraining objectives", "accuracy (%)")
    write_text_atomic(RUN / "results.md", markdown_table(["model", *cols, "Δ mean vs mlm"], rows, digits=1) + "\n")
    return results


def main() -> int:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("step", choices=["prepare", "bt", "arms", "eval", "all"])
    ap.add_argument("--arms", nargs="*", default=None, help="only these arms (default: all four)")
    args = ap.parse_args()
    RUN.mkdir(parents=True, exist_ok=True)
    timings_path = RUN / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    if args.step in ("prepare", "all") and not (RUN / "tokenizer/tokenizer.json").is_file():
        t = time.time()
        prepare()
        timings["prepare_s"] = time.time() - t
    if args.step == "all":  # the arms that need no BT pairs first, so a slow BT step delays only one arm
        timings.update({f"pretrain_{k}_s": v for k, v in arms([a for a in ARMS if a != "mlm-tlm-bt"]).items()})
        timings_path.write_text(json.dumps(timings, indent=1))
    if args.step in ("bt", "all"):
        timings.update(bt())
        timings_path.write_text(json.dumps(timings, indent=1))
    if args.step in ("arms", "all"):
        timings.update({f"pretrain_{k}_s": v for k, v in arms(args.arms).items()})
    timings_path.write_text(json.dumps(timings, indent=1))
    if args.step in ("eval", "all"):
        t = time.time()
        evaluate()
        timings["eval_s"] = time.time() - t
        timings_path.write_text(json.dumps(timings, indent=1))
    print(f"wrote {RUN} (results.md, results.json, timings.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
