"""kill -9 at seeded random points, then the same command again: the output must be byte-identical
to an uninterrupted run (clean, dedup, mix, vocab, pretrain). Issue 17, case 6 ("resume").

Each case runs the real CLI in its own session and kills the whole process group (what a lost
machine does), at delays drawn from a seeded RNG within the uninterrupted run's duration. These
run the stage 3-4 times each, so they are marked slow.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import env, kk_lines

from xling.core.io import read_json

pytestmark = pytest.mark.slow
KILLS = 2


def _run(args: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "xling.cli", *args], cwd=cwd, env=env(), capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return time.perf_counter() - t0


def _killed_then_resumed(args: list[str], cwd: Path, seconds: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    delays = []
    for _ in range(KILLS):
        delay = rng.uniform(0.3, 0.95) * seconds
        proc = subprocess.Popen([sys.executable, "-m", "xling.cli", *args], cwd=cwd, env=env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            delays.append(round(delay, 2))
    _run(args, cwd)
    return delays


def _files(out: Path, skip: tuple[str, ...]) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not any(part in skip or part.endswith((".png", ".md")) for part in p.relative_to(out).parts)}


def _inputs(tmp_path: Path, n: int = 3, lines: int = 2000) -> list[str]:
    specs = []
    for i in range(n):
        f = tmp_path / f"in{i}.txt"
        text = kk_lines(lines, seed=i)
        f.write_text(text + text[: len(text) // 5], encoding="utf-8")  # some exact duplicates too
        specs.append(f"kaz_Cyrl={f}")
    return specs


# Files whose content records time (logs, timings, per-language markers with seconds) or the output
# folder's own name (config.yaml) rather than results. The SentencePiece model embeds the path of
# its (temporary) training file, so it is compared by its pieces (`_spm_pieces`).
# The stage record (stage.json) holds timings and the command line (with the --out folder): its
# status and fingerprint are compared instead (`_record`).
VOLATILE = ("logs", "stats.json", "metrics.jsonl", "tensorboard", "train_args.json", "config.yaml", ".done",
            "sentencepiece.bpe.model", "stage.json")


@pytest.mark.parametrize("stage", ["clean", "dedup", "mix", "vocab"])
def test_corpus_stages_resume_byte_identical(stage: str, tmp_path: Path) -> None:
    specs = _inputs(tmp_path)
    extra = {"clean": ["corpora", "clean", *specs, "--lid", "langid"],
             "dedup": ["corpora", "dedup", *specs],
             "mix": ["corpora", "mix", *specs, "--alpha", "0.5", "--total", "300000"],
             "vocab": ["vocab", "train", *specs, "--vocab-size", "200"]}[stage]
    seconds = _run([*extra, "--out", "ref"], tmp_path)
    delays = _killed_then_resumed([*extra, "--out", "run"], tmp_path, seconds, seed=17)
    ref, run = _files(tmp_path / "ref", VOLATILE), _files(tmp_path / "run", VOLATILE)
    assert ref and ref.keys() == run.keys(), (delays, sorted(set(ref) ^ set(run)))
    assert [k for k in ref if ref[k] != run[k]] == [], delays
    assert _record(tmp_path / "run") == ("finished", _record(tmp_path / "ref")[1])
    if stage == "vocab":
        assert _spm_pieces(tmp_path / "ref") == _spm_pieces(tmp_path / "run")
    if stage in ("dedup", "mix"):
        for name in ("stats.json",):
            assert _without_seconds(tmp_path / "ref" / name) == _without_seconds(tmp_path / "run" / name)
    leftovers = [p.name for p in tmp_path.rglob(".tmp-*")] + [p.name for p in tmp_path.glob(".*.lock")]
    assert leftovers == []


def _record(out: Path) -> tuple[str, str]:
    rec = read_json(out / "stage.json")
    return rec["status"], rec["fingerprint"]


def _spm_pieces(out: Path) -> list[tuple[str, float, int]]:
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((out / "sentencepiece.bpe.model").read_bytes())
    return [(p.piece, p.score, p.type) for p in proto.pieces]


def _without_seconds(path: Path) -> object:

    def strip(x: object) -> object:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if "second" not in k and "time" not in k}
        return [strip(v) for v in x] if isinstance(x, list) else x

    return strip(read_json(path))


def test_pretrain_resumes_byte_identical(tmp_path: Path, tiny_spm: Path, tiny_text: dict[str, Path]) -> None:
    import yaml

    recipe = {
        "tokenizer": str(tiny_spm), "seed": 0,
        "data": {"files": {lang: str(tiny_text[lang]) for lang in ("kaz_Cyrl", "uig_Arab")}, "max_len": 32,
                 "alpha": 0.3, "eval_fraction": 0.05, "eval_max_docs": 20},
        "model": {"size": "tiny", "dropout": 0.1, "attention_dropout": 0.1},
        "train": {"max_steps": 12, "global_batch_size": 4, "micro_batch_size": 2, "lr": 1e-3, "warmup_steps": 2,
                  "log_every": 1, "eval_every": 0, "eval_sequences": 4, "save_every": 2, "keep_last": 2,
                  "progress": False, "report_to": [], "threads": 1, "precision": "fp32", "device": "cpu"},
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    seconds = _run(["pretrain", "r.yaml", "--out", "ref"], tmp_path)
    delays = _killed_then_resumed(["pretrain", "r.yaml", "--out", "run"], tmp_path, seconds, seed=17)
    a = (tmp_path / "ref" / "final" / "model.safetensors").read_bytes()
    b = (tmp_path / "run" / "final" / "model.safetensors").read_bytes()
    assert a == b, delays
