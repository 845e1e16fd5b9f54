"""The stage contract (`xling.core.stage`) for every stage kind, on tiny real inputs.

For each kind: run it to the end (a finished record), run it again unchanged (skipped: the record
is not even rewritten), change one setting (refused, the dotted key and both values named), then
`force` (redone: the record holds the new setting). Plus the record mechanics themselves, the
refusal of unfinished upstream folders (`--allow-partial`), and kill -9 + resume of BT training and
evaluation fine-tuning giving the uninterrupted run's weights.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from xling.core.io import read_json, read_lines, write_jsonl_atomic
from xling.core.stage import Stage, StageError, StageSpec, describe_changes, fingerprint, require_finished

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


# ------------------------------------------------------------------------------------ the mechanics


def test_fingerprint_names_dotted_keys_inputs_and_versions(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("one\n")
    spec = StageSpec("demo", tmp_path / "out", {"train": {"lr": 5e-4, "steps": 3}, "arms": [{"w": 1}], "threads": 4},
                     {"text": f}, ("result.txt",), ignore=("threads",))
    before = fingerprint(spec)
    f.write_text("two\n")
    after = fingerprint(StageSpec("demo", tmp_path / "out", {"train": {"lr": 3e-4, "steps": 3}, "arms": [{"w": 2}],
                                                                "threads": 1}, {"text": f}, ("result.txt",),
                                  ignore=("threads",)))
    changes = describe_changes(before, after)
    assert changes[:2] == ["arms.0.w: 1 → 2", "train.lr: 0.0005 → 0.0003"]
    assert changes[2].startswith('input text: "file 4 bytes sha256 ') and len(changes) == 3  # threads ignored


def test_record_is_running_then_finished_and_a_resume_keeps_its_config(tmp_path):
    spec = StageSpec("demo", tmp_path, {"lr": 1}, outputs=("result.txt",))
    stage = Stage(spec)
    assert stage.begin() == "new" and read_json(tmp_path / "stage.json")["status"] == "running"
    assert Stage(spec).begin() == "resume"  # an interrupted run with the same settings resumes
    with pytest.raises(StageError, match=r"demo stage in .* was started \(unfinished\) with other settings: lr: 1 → 2"):
        Stage(StageSpec("demo", tmp_path, {"lr": 2}, outputs=("result.txt",))).begin()
    (tmp_path / "result.txt").write_text("x")
    stage.finish({"n": 1})
    assert Stage(spec).begin() == "finished" and Stage(spec).result() == {"n": 1}
    other = Stage(StageSpec("demo", tmp_path, {"lr": 2}, outputs=("result.txt",)))
    assert other.begin(force=True) == "redo" and not (tmp_path / "result.txt").exists()


def test_the_record_names_the_code_that_wrote_it_and_how_long_it_took(tmp_path, monkeypatch):
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    now = [1000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    stage = Stage(StageSpec("demo", tmp_path, {"lr": 1}, outputs=("result.txt",)))
    stage.begin()
    running = read_json(tmp_path / "stage.json")
    assert running["commit"] == head and "seconds" not in running
    now[0] = 1042.5
    stage.finish()
    done = read_json(tmp_path / "stage.json")
    assert done["commit"] == head and done["seconds"] == 42.5


def test_a_run_folder_moved_elsewhere_is_still_finished_until_an_input_changes(tmp_path):
    import shutil

    def spec(root: Path) -> StageSpec:
        return StageSpec("demo", root / "down", {"corpus": str(root / "up"), "files": [f"kaz_Cyrl={root / 'a.txt'}"],
                                                 "lr": 1}, {"corpus": root / "up", "text": root / "a.txt"})

    first = tmp_path / "machine-a" / "run"
    (first / "up").mkdir(parents=True)
    (first / "a.txt").write_text("one\n")
    Stage(StageSpec("up", first / "up", {"n": 1})).finish()
    down = Stage(spec(first))
    down.begin()
    down.finish()
    # where an input lies is not a setting: the record names it by the input it is
    assert read_json(first / "down" / "stage.json")["fingerprint_body"]["config"] == {
        "corpus": "<input corpus>", "files.0": "kaz_Cyrl=<input text>", "lr": 1}

    moved = tmp_path / "machine-b" / "elsewhere"
    shutil.copytree(first, moved)
    assert Stage(spec(moved)).state() == "finished"
    (moved / "a.txt").write_text("two\n")  # same place, new content: changed, and only that is named
    stage = Stage(spec(moved))
    assert stage.state() == "changed"
    assert [c.split(":")[0] for c in stage.changes()] == [f"input text ({moved / 'a.txt'})"]


def test_a_record_written_before_inputs_were_marked_is_still_finished(tmp_path):
    import hashlib

    from xling import __version__
    from xling.core.stage import input_fingerprint

    (tmp_path / "vocab").mkdir()
    (tmp_path / "vocab" / "sp.model").write_bytes(b"x" * 10)
    # the record format up to 2026-12-06: the input's path stood in the config as written
    body = {"config": {"lr": 1, "tokenizer": "runs/old-place/vocab"},
            "inputs": {"tokenizer": input_fingerprint(tmp_path / "vocab")},
            "versions": {"stage": 1, "xling": __version__}}
    record = {"format": 1, "kind": "demo", "status": "finished", "outputs": [], "fingerprint_body": body,
              "fingerprint": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()}
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stage.json").write_text(json.dumps(record))

    def stage(lr: int) -> Stage:
        return Stage(StageSpec("demo", tmp_path / "out", {"lr": lr, "tokenizer": str(tmp_path / "vocab")},
                               {"tokenizer": tmp_path / "vocab"}))

    assert stage(1).state() == "finished"
    assert stage(2).state() == "changed" and stage(2).changes() == ["lr: 1 → 2"]


def test_real_stages_of_a_copied_run_folder_are_skipped(corpus, tiny_text, tmp_path):
    """A run folder copied whole (`cp -r`, another machine) resumes there: the vocabulary reads the
    run's corpus stage, pretraining the run's vocabulary, and neither is redone or refused."""
    import shutil

    from vocab.train import VocabTrainConfig, train_vocab
    from xling.pretrain import pretrain

    def run(root: Path) -> None:
        train_vocab(VocabTrainConfig(inputs=[str(root / "corpus")], out=str(root / "vocab"), vocab_size=300,
                                     sample_sentences=2000, stats_lines=50, num_threads=1))
        pretrain(_pretrain_config(root / "vocab", {k: root / v.name for k, v in tiny_text.items()}, root / "cache"),
                 root / "pre")

    first = tmp_path / "a"
    shutil.copytree(corpus, first / "corpus")
    Stage(StageSpec("corpus-mix", first / "corpus", {"alpha": 0.3})).finish()  # as the run's corpus stage
    for p in tiny_text.values():
        shutil.copy2(p, first / p.name)
    run(first)
    second = tmp_path / "b"
    subprocess.run(["cp", "-r", str(first), str(second)], check=True)  # no -p: new mtimes on every stage output
    records = {p: p.read_bytes() for p in (second / "vocab" / "stage.json", second / "pre" / "stage.json")}
    run(second)
    assert {p: p.read_bytes() for p in records} == records  # skipped: nothing redone, records untouched


def test_outputs_without_a_record_are_refused(tmp_path):
    (tmp_path / "result.txt").write_text("from an older version")
    with pytest.raises(StageError, match=r"holds outputs \(result\.txt\) but no stage\.json"):
        Stage(StageSpec("demo", tmp_path, {}, outputs=("result.txt",))).begin()


def test_unfinished_upstream_is_refused_unless_allow_partial(tmp_path, caplog):
    Stage(StageSpec("corpus-clean", tmp_path, {})).begin()  # started, never finished (killed)
    with pytest.raises(StageError, match=r"has not finished .* Finish it first: xling corpora clean .* "
                                         r"--allow-partial"):
        require_finished(tmp_path, "xling corpora clean IN --out OUT")
    require_finished(tmp_path, "xling corpora clean IN --out OUT", allow_partial=True)
    assert "partial stage output" in caplog.text
    require_finished(tmp_path / "no-record-here", "x")  # raw data: no record, read as it is


def test_the_refusal_names_the_command_that_finishes_the_upstream_stage(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/xling", "corpora", "clean", "raw dir", "--out", str(tmp_path),
                                      "--force"])
    Stage(StageSpec("corpus-clean", tmp_path, {})).begin()
    monkeypatch.setattr(sys, "argv", ["pytest"])
    with pytest.raises(StageError, match=r"Finish it first: xling corpora clean 'raw dir' --out \S+ — or pass "):
        require_finished(tmp_path, "generic hint")


def test_killed_clean_is_refused_by_dedup_mix_and_vocab(tmp_path):
    """Issue #17 item 4: a killed clean's folder (record still `running`) feeds no later stage."""
    from corpora.dedup import dedup_corpus
    from corpora.mix import mix_corpus
    from vocab.train import VocabTrainConfig, train_vocab

    clean = tmp_path / "clean"
    write_jsonl_atomic(clean / "kept" / "kaz_Cyrl" / "00000.jsonl.gz", [{"id": "1", "text": "сәлем әлем", "lang": "kaz_Cyrl"}])
    Stage(StageSpec("corpus-clean", clean, {})).begin()
    for run in (lambda: dedup_corpus([clean], tmp_path / "d", progress=False),
                lambda: mix_corpus([clean], tmp_path / "m", progress=False),
                lambda: train_vocab(VocabTrainConfig(inputs=[str(clean)], out=str(tmp_path / "v")))):
        with pytest.raises(StageError, match="has not finished"):
            run()
    assert not (tmp_path / "d").exists() and not (tmp_path / "m").exists() and not (tmp_path / "v").exists()


def test_running_bt_translate_pairs_feed_neither_bt_training_nor_pretraining(tmp_path):
    """A `bt translate` folder whose record says running holds part of its pairs: BT training and
    pretraining (tlm) refuse to read its pairs.tsv, naming the folder, before any work."""
    from xling.bt.train import BTTrainConfig, train_bt
    from xling.core.config import from_dict
    from xling.pretrain import PretrainConfig, pretrain

    pairs = tmp_path / "bt-pairs"
    (pairs / "pairs.tsv").parent.mkdir()
    (pairs / "pairs.tsv").write_text("Сәлем\tПривет\n", encoding="utf-8")
    Stage(StageSpec("bt-translate", pairs, {})).begin()  # started, never finished (killed)
    source = {"src": str(pairs / "pairs.tsv"), "src_lang": "kaz_Cyrl", "tgt_lang": "rus_Cyrl", "format": "tsv",
              "synthetic": "tgt"}
    (tmp_path / "tok").mkdir()
    bt = from_dict(BTTrainConfig, {"tokenizer": str(tmp_path / "tok"), "parallel": {"sources": [source]}})
    with pytest.raises(StageError, match=r"bt-pairs/pairs.tsv: its stage has not finished"):
        train_bt(bt, tmp_path / "bt")
    pre = from_dict(PretrainConfig, {"tokenizer": str(tmp_path / "tok"), "objectives": [{"name": "mlm"}, {"name": "tlm"}],
                                     "data": {"files": {"kaz_Cyrl": str(pairs / "pairs.tsv")}},
                                     "parallel": {"sources": [source]}})
    with pytest.raises(StageError, match=r"bt-pairs/pairs.tsv: its stage has not finished"):
        pretrain(pre, tmp_path / "pre")
    assert not (tmp_path / "bt").exists() and not (tmp_path / "pre").exists()


# ----------------------------------------------------------------------------------- every stage kind


@pytest.fixture(scope="module")
def corpus(data_root, tmp_path_factory) -> Path:
    """A cleaned-corpus layout of real kk/ug lines (a few hundred documents)."""
    root = tmp_path_factory.mktemp("corpus")
    for lang, rel in (("kaz_Cyrl", "mono/kk/common_voice/sentence-collector.txt.xz"),
                      ("uig_Arab", "mono/ug/common_voice/sentence-collector.txt.xz")):
        lines = [ln for ln in read_lines(data_root / rel) if len(ln.split()) >= 3][:300]
        write_jsonl_atomic(root / "kept" / lang / "00000.jsonl.gz",
                           [{"id": f"{lang}-{i}", "text": t, "lang": lang} for i, t in enumerate(lines + lines[:20])])
    return root


@pytest.fixture(scope="module")
def raw_inputs(data_root, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("raw")
    (d / "kk.txt").write_text("\n".join(read_lines(data_root / "lid/lingua_testdata/sentences/kk.txt.xz")[:60]) + "\n",
                              encoding="utf-8")
    with gzip.open(d / "ug.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(read_lines(data_root / "mono/ug/common_voice/sentence-collector.txt.xz")[:60]) + "\n")
    return d


@pytest.fixture(scope="module")
def pairs(data_root, tmp_path_factory) -> Path:
    from xling.parallel import read_aligned, write_tsv_pairs

    d = data_root / "parallel/kk-ru/apertium_kaz_rus_CORPUS"
    rows = [(s, t) for s, t in read_aligned(d / "election-kaz-660.xz", d / "election-ru-660.xz", True)
            if s and t and len(s) < 120][:40]
    return write_tsv_pairs(tmp_path_factory.mktemp("pairs") / "kk-ru.tsv", rows)


def _bt_config(tiny_spm, pairs, **kw):
    from xling.bt.train import BTTrainConfig
    from xling.core.config import from_dict

    base = {"tokenizer": str(tiny_spm),
            "parallel": {"sources": [{"src": str(pairs), "src_lang": "kaz_Cyrl", "tgt_lang": "rus_Cyrl"}]},
            "model": {"size": "tiny", "d_model": 32, "heads": 2, "ffn": 64, "max_len": 32},
            "steps": 4, "batch_size": 8, "warmup_steps": 1, "valid_pairs": 4, "eval_pairs": 2, "eval_beams": 1,
            "save_every": 2, "log_every": 1, "threads": 1}
    return from_dict(BTTrainConfig, {**base, **kw})


def _pretrain_config(tiny_spm, tiny_text, cache, **train):
    from xling.core.config import load_config
    from xling.pretrain import PretrainConfig

    base = {"tokenizer": str(tiny_spm), "seed": 0,
            "data": {"files": {lang: str(tiny_text[lang]) for lang in ("kaz_Cyrl", "uig_Arab")}, "max_len": 32,
                     "cache_dir": str(cache), "eval_fraction": 0.05, "eval_max_docs": 10},
            "model": {"size": "tiny"},
            "train": {"max_steps": 2, "global_batch_size": 2, "micro_batch_size": 2, "lr": 1e-3, "warmup_steps": 1,
                      "log_every": 1, "eval_every": 0, "eval_sequences": 2, "save_every": 2, "progress": False,
                      "report_to": [], "threads": 1, "precision": "fp32", **train}}
    return load_config(PretrainConfig, None, [], flags=base)


# (run(value, out, force) → None, record path under out, setting key, first value, second value)
Case = tuple[Callable[[object, Path, bool], object], str, str, object, object]


def _case(kind: str, request, tmp_path: Path) -> Case:
    from xling.core.config import from_dict

    get = request.getfixturevalue
    if kind == "clean":
        from corpora.clean import CleanConfig, run_clean

        raw = get("raw_inputs")
        return (lambda v, out, force: run_clean(CleanConfig(inputs=[str(raw)], out=str(out), lid="langid",
                                                            min_lang_score=v), force=force),
                "stage.json", "min_lang_score", 0.5, 0.6)
    if kind in ("dedup", "decontaminate", "mix"):
        from corpora.decontam import DecontamConfig, decontaminate_corpus
        from corpora.dedup import DedupConfig, dedup_corpus
        from corpora.mix import MixConfig, mix_corpus

        src = get("corpus")
        heldout = tmp_path / "heldout.txt"
        heldout.write_text("\n".join(read_lines(next(src.glob("kept/kaz_Cyrl/*.gz")))[:5]) + "\n")
        if kind == "dedup":
            return (lambda v, out, force: dedup_corpus([src], out, from_dict(DedupConfig, {"minhash": {"ngram": v}}),
                                                       overwrite=force, progress=False),
                    "stage.json", "minhash.ngram", 3, 4)
        if kind == "decontaminate":
            return (lambda v, out, force: decontaminate_corpus(
                [src], out, DecontamConfig(auto=False, against=[str(heldout)], ngram=v), overwrite=force,
                progress=False), "stage.json", "ngram", 13, 8)
        return (lambda v, out, force: mix_corpus([src], out, MixConfig(alpha=v, seed=1), overwrite=force,
                                                 progress=False), "stage.json", "alpha", 0.3, 0.5)
    if kind in ("vocab-train", "vocab-extend"):
        from vocab.extend import VocabExtendConfig, extend_vocab
        from vocab.train import VocabTrainConfig, train_vocab

        src = get("corpus")

        def train(v, out, force):
            return train_vocab(VocabTrainConfig(inputs=[str(src)], out=str(out), vocab_size=v, sample_sentences=2000,
                                                stats_lines=50, num_threads=1), force=force)
        if kind == "vocab-train":
            return train, "stage.json", "vocab_size", 300, 320
        base = train(300, tmp_path / "base", False)
        return (lambda v, out, force: extend_vocab(VocabExtendConfig(
            base=str(base), add=[f"uig_Arab={next(src.glob('kept/uig_Arab/*.gz'))}"], out=str(out), new_pieces=v,
            sample_sentences=2000, stats_lines=50, num_threads=1), force=force), "stage.json", "new_pieces", 20, 30)
    if kind == "pretrain":
        from xling.pretrain import pretrain

        spm, text, cache = get("tiny_spm"), get("tiny_text"), get("tmp_path_factory").mktemp("shards")
        return (lambda v, out, force: pretrain(_pretrain_config(spm, text, cache, lr=v), out, force=force),
                "stage.json", "train.lr", 0.001, 0.0005)
    if kind in ("bt-train", "bt-translate"):
        from xling.bt.train import train_bt
        from xling.bt.translate import TranslateConfig, run_translate

        spm, src = get("tiny_spm"), get("pairs")
        if kind == "bt-train":
            return (lambda v, out, force: train_bt(_bt_config(spm, src, lr=v), out, force=force),
                    "stage.json", "lr", 0.0005, 0.0003)
        model = train_bt(_bt_config(spm, src), tmp_path / "bt")
        mono = tmp_path / "mono.txt"
        mono.write_text("\n".join(s for s, _ in (ln.split("\t") for ln in read_lines(src)[:6])) + "\n")
        return (lambda v, out, force: run_translate(TranslateConfig(
            model=str(model), inputs=[str(mono)], beams=v, batch_size=4, chunk_lines=3, lid="script",
            max_length_ratio=100.0, min_script_fraction=0.0), out, force=force), "stage.json", "beams", 1, 2)
    if kind == "finetune":
        from eval_xtreme.finetune import FinetuneConfig, finetune
        from eval_xtreme.loaders import load_split
        from eval_xtreme.tasks import get_task

        task, enc, root = get_task("udpos_turkic"), get("tiny_encoder"), get("data_root")
        train, _ = load_split(task, "train", "en", root)
        dev, _ = load_split(task, "dev", "en", root)
        return (lambda v, out, force: finetune(task, str(enc), train, dev, out, FinetuneConfig(
            max_steps=2, batch_size=4, max_train_examples=8, max_dev_examples=4, learning_rate=v), force=force),
                "stage.json", "learning_rate", 0.001, 0.0005)
    if kind == "eval-task":
        from eval_xtreme.runner import EvalConfig, run_eval

        enc = get("tiny_encoder")
        return (lambda v, out, force: run_eval(from_dict(EvalConfig, {
            "model": str(enc), "tasks": ["tatoeba_turkic"], "out": str(out), "max_eval_examples": 8, "threads": 1,
            "retrieval": {"max_length": v, "batch_size": 8}}), force=force),
                "tasks/tatoeba_turkic.stage.json", "settings.max_length", 32, 24)
    raise AssertionError(kind)


KINDS = ["clean", "dedup", "decontaminate", "mix", "vocab-train", "vocab-extend", "pretrain", "bt-train",
         "bt-translate", "finetune", "eval-task"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_stage_kind_skips_refuses_and_forces(kind, request, tmp_path):
    run, record, key, first, second = _case(kind, request, tmp_path)
    out = tmp_path / "out"
    run(first, out, False)
    rec_path = out / record
    rec = read_json(rec_path)
    assert rec["status"] == "finished" and rec["fingerprint_body"]["config"][key] == first
    written = rec_path.read_bytes()

    run(first, out, False)  # unchanged: skipped, the record is not rewritten
    assert rec_path.read_bytes() == written

    shown = f"{json.dumps(first)} → {json.dumps(second)}"
    with pytest.raises(StageError, match=f"finished with other settings: .*{key}: {shown}.*--force"):
        run(second, out, False)
    assert rec_path.read_bytes() == written  # refused before anything was written

    run(second, out, True)  # --force redoes it
    rec = read_json(rec_path)
    assert rec["status"] == "finished" and rec["fingerprint_body"]["config"][key] == second


# ----------------------------------------------------------------------------- kill -9, then resume

_BT_CHILD = """
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from test_stage_contract import _bt_config
from xling.bt.train import train_bt
from pathlib import Path
cfg = _bt_config(Path({spm!r}), Path({pairs!r}), steps=60, save_every=5, log_every=1, eval_pairs=1)
train_bt(cfg, {out!r})
"""


def _kill_when(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not ready() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the child finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _saved_step(out: Path) -> int:
    return max((int(p.parent.name[5:]) for p in (out / "checkpoints").glob("step-*/meta.json")), default=0)


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_bt_training_killed_mid_run_resumes_to_the_same_weights(tiny_spm, pairs, tmp_path):
    from safetensors.numpy import load_file

    from xling.bt.train import train_bt

    killed = tmp_path / "killed"
    code = _BT_CHILD.format(tests=str(Path(__file__).parent), spm=str(tiny_spm), pairs=str(pairs), out=str(killed))
    proc = subprocess.Popen([sys.executable, "-c", code], env=_child_env(), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_when(proc, lambda: _saved_step(killed) >= 10)
    assert read_json(killed / "stage.json")["status"] == "running"
    cfg = _bt_config(tiny_spm, pairs, steps=60, save_every=5, log_every=1, eval_pairs=1)
    train_bt(cfg, killed)  # resumes from the last complete checkpoint
    train_bt(cfg, tmp_path / "straight")
    a, b = (load_file(str(d / "model" / "model.safetensors")) for d in (killed, tmp_path / "straight"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)  # bit-identical
    steps = [json.loads(ln)["step"] for ln in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 61))  # each logged step once, none replayed twice


_FT_CHILD = """
import sys, torch
torch.set_num_threads(1)
from eval_xtreme.finetune import FinetuneConfig, finetune
from eval_xtreme.loaders import load_split
from eval_xtreme.tasks import get_task
task = get_task("udpos_turkic")
train, _ = load_split(task, "train", "en", {root!r})
dev, _ = load_split(task, "dev", "en", {root!r})
cfg = FinetuneConfig(max_steps=30, save_every=3, eval_every=15, batch_size=4, max_train_examples=48,
                     max_dev_examples=4, learning_rate=1e-3)
finetune(task, {model!r}, train, dev, {out!r}, cfg)
"""


@pytest.mark.slow
def test_fine_tuning_killed_mid_run_resumes_to_the_same_weights(tiny_encoder, data_root, tmp_path):
    from safetensors.numpy import load_file

    killed, straight = tmp_path / "killed", tmp_path / "straight"
    args = {"root": str(data_root), "model": str(tiny_encoder)}
    proc = subprocess.Popen([sys.executable, "-c", _FT_CHILD.format(out=str(killed), **args)], env=_child_env(),
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_when(proc, lambda: _saved_step(killed) >= 9)
    assert read_json(killed / "stage.json")["status"] == "running"
    for out in (killed, straight):
        subprocess.run([sys.executable, "-c", _FT_CHILD.format(out=str(out), **args)], env=_child_env(), cwd=REPO,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a, b = (load_file(str(d / "checkpoints" / "step-000030" / "model.safetensors")) for d in (killed, straight))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)  # bit-identical
    ra, rb = (read_json(d / "stage.json")["result"] for d in (killed, straight))
    assert ra == rb
