"""Zero-shot fine-tuning: a 2-step smoke run per head on real data, exact resume, features and errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from eval_xtreme import finetune as ft
from eval_xtreme.finetune import FinetuneConfig, finetune, load_model, predict, score
from eval_xtreme.loaders import PairExample, QAExample, TaggedSentence, load_split
from eval_xtreme.tasks import get_task
from xling.core.io import read_json

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py

SMOKE = FinetuneConfig(max_steps=2, batch_size=4, eval_batch_size=16, max_train_examples=16,
                       max_dev_examples=8, learning_rate=1e-3)


@pytest.mark.parametrize("task_name,lang", [("xnli", "de"), ("udpos_turkic", "ug"), ("kazqad", "kk")])
def test_smoke_each_head_on_real_data(tiny_encoder, data_root, tmp_path, task_name, lang):
    task = get_task(task_name)
    train, _ = load_split(task, "train", "en", data_root)
    dev, _ = load_split(task, "dev", "en", data_root)
    test, _ = load_split(task, "test", lang, data_root)
    res = finetune(task, str(tiny_encoder), train, dev, tmp_path / "run", SMOKE)
    assert res.steps == 2 and res.resumed_from == 0
    assert (res.model_dir / "model.safetensors").is_file() and (res.model_dir / "meta.json").is_file()
    record = read_json(tmp_path / "run" / "stage.json")
    assert record["status"] == "finished" and record["result"]["train_examples"] == min(16, len(train))
    tokenizer, net = load_model(task, str(res.model_dir))
    test = test[:12]
    preds = predict(task, net, tokenizer, test, SMOKE)
    assert len(preds) == len(test)
    if task.kind == "classification":
        assert set(preds) <= set(task.labels)
    elif task.kind == "token_classification":
        assert [len(p) for p in preds] == [len(s.tokens) for s in test]
    else:
        assert all(isinstance(p, str) and (not p or p in q.context) for p, q in zip(preds, test, strict=True))
    scores = score(task, preds, test, lang)
    assert scores and all(0.0 <= v <= 100.0 for v in scores.values())
    # A finished run is reused, not retrained.
    again = finetune(task, str(tiny_encoder), train, dev, tmp_path / "run", SMOKE)
    assert again.steps == 2 and again.model_dir == res.model_dir


def _weights(folder, name="model.safetensors"):
    from safetensors.numpy import load_file

    return load_file(str(folder / name))


def _finetune_killed_after(monkeypatch, kill_step: int, *args) -> None:
    """`finetune(*args)` interrupted (as by a kill) right after its checkpoint of `kill_step` is written."""
    real_save = ft._save_checkpoint

    def save_then_die(run_dir, step, *rest):
        real_save(run_dir, step, *rest)
        if step == kill_step:
            raise KeyboardInterrupt

    monkeypatch.setattr(ft, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        finetune(*args)
    monkeypatch.setattr(ft, "_save_checkpoint", real_save)


# with suffix vectors (and their dropout) too, and with their own learning rate (an optimizer group of its own)
@pytest.mark.parametrize("features", [{}, {"suffix_features": 4}, {"suffix_features": 2, "suffix_lr_scale": 10.0}])
def test_resume_is_exact(tiny_encoder, data_root, tmp_path, monkeypatch, features):
    task = get_task("udpos_turkic")
    train, _ = load_split(task, "train", "en", data_root)
    dev, _ = load_split(task, "dev", "en", data_root)
    cfg = FinetuneConfig(max_steps=4, save_every=2, eval_every=4, batch_size=4, max_train_examples=24,
                         max_dev_examples=4, learning_rate=1e-3, **features)
    finetune(task, str(tiny_encoder), train, dev, tmp_path / "straight", cfg)
    straight = _weights(tmp_path / "straight" / "checkpoints" / "step-000004")

    _finetune_killed_after(monkeypatch, 2, task, str(tiny_encoder), train, dev, tmp_path / "resumed", cfg)
    ckpt = tmp_path / "resumed" / "checkpoints" / "step-000002"
    assert read_json(ckpt / "meta.json")["step"] == 2
    assert read_json(tmp_path / "resumed" / "stage.json")["status"] == "running"
    res = finetune(task, str(tiny_encoder), train, dev, tmp_path / "resumed", cfg)
    assert res.resumed_from == 2 and res.steps == 4
    resumed = _weights(tmp_path / "resumed" / "checkpoints" / "step-000004")
    if features:
        for run, weights in (("straight", straight), ("resumed", resumed)):
            weights.update(_weights(tmp_path / run / "checkpoints" / "step-000004", "suffix_features.safetensors"))
    assert straight.keys() == resumed.keys()
    for k in straight:
        np.testing.assert_allclose(straight[k], resumed[k], rtol=1e-5, atol=1e-6, err_msg=k)


# every 2nd step and the last of 5; from 0.5 of the run on, only the snapshots after step 2.5
@pytest.mark.parametrize("average_from,averaged", [(0.0, (2, 4, 5)), (0.5, (4, 5))])
def test_checkpoint_averaging_keeps_the_mean_of_the_weights_and_resumes_exactly(tiny_encoder, data_root, tmp_path,
                                                                               monkeypatch, average_from, averaged):
    task = get_task("udpos_turkic")
    train, _ = load_split(task, "train", "en", data_root)
    dev, _ = load_split(task, "dev", "en", data_root)
    cfg = FinetuneConfig(max_steps=5, save_every=1, eval_every=5, batch_size=4, max_train_examples=24,
                         max_dev_examples=4, learning_rate=1e-3, suffix_features=2, average_every=2,
                         average_from=average_from)
    files = ("model.safetensors", "suffix_features.safetensors")
    seen: dict[int, dict] = {}
    real_save = ft._save_checkpoint

    def save_and_read(run_dir, step, *args):
        real_save(run_dir, step, *args)
        folder = run_dir / "checkpoints" / f"step-{step:06d}"
        seen[step] = {k: v for name in files for k, v in _weights(folder, name).items()}

    monkeypatch.setattr(ft, "_save_checkpoint", save_and_read)
    res = finetune(task, str(tiny_encoder), train, dev, tmp_path / "straight", cfg)
    monkeypatch.setattr(ft, "_save_checkpoint", real_save)
    kept = {k: v for name in files for k, v in _weights(res.model_dir, name).items()}
    # the floating-point weights of the averaged steps: their plain mean, by numpy; the rest (the suffix
    # table's `seen` flags) as trained
    assert kept.keys() == seen[5].keys()
    for k, v in kept.items():
        want = np.mean([seen[i][k] for i in averaged], axis=0) if v.dtype.kind == "f" else seen[5][k]
        np.testing.assert_allclose(v, want, rtol=1e-5, atol=1e-6, err_msg=k)
    meta = read_json(res.model_dir / "meta.json")
    assert meta["averaged_checkpoints"] == len(averaged) and meta["average_every"] == 2
    result = read_json(tmp_path / "straight" / "stage.json")["result"]
    assert result["dev_primary"] == meta["dev_primary"] == res.dev_primary and "best_single_dev_primary" in result
    # the averaged model's dev score is its own: predict with it and score by hand
    tok, net = load_model(task, str(res.model_dir))
    sub = ft.subsample(dev, 4, cfg.seed + 1)
    assert score(task, predict(task, net, tok, sub, cfg), sub, "en")["f1"] == pytest.approx(res.dev_primary)

    _finetune_killed_after(monkeypatch, 3, task, str(tiny_encoder), train, dev, tmp_path / "resumed", cfg)
    again = finetune(task, str(tiny_encoder), train, dev, tmp_path / "resumed", cfg)
    assert again.resumed_from == 3
    resumed = {k: v for name in files for k, v in _weights(again.model_dir, name).items()}
    for k, v in kept.items():
        np.testing.assert_allclose(resumed[k], v, rtol=1e-5, atol=1e-6, err_msg=k)


def test_average_every_is_checked_and_recorded_only_when_set():
    with pytest.raises(ValueError, match=r"finetune\.average_every"):
        FinetuneConfig(average_every=-1)
    with pytest.raises(ValueError, match=r"finetune\.average_from"):
        FinetuneConfig(average_every=5, average_from=1.0)
    assert not {"average_every", "average_from"} & set(ft.recorded_settings(FinetuneConfig()))
    recorded = ft.recorded_settings(FinetuneConfig(average_every=50, average_from=0.5))
    assert recorded["average_every"] == 50 and recorded["average_from"] == 0.5


def test_without_dev_the_final_model_is_kept(tiny_encoder, data_root, tmp_path):
    # TyDiQA has no dev split apart from its test set: nothing is selected, the last step is kept.
    task = get_task("kazqad")
    train, _ = load_split(task, "train", "en", data_root)
    cfg = FinetuneConfig(max_steps=3, eval_every=1, batch_size=2, max_train_examples=6, learning_rate=1e-3,
                         max_seq_length=64, doc_stride=32, max_query_length=16)
    res = finetune(task, str(tiny_encoder), train, [], tmp_path / "run", cfg)
    assert read_json(res.model_dir / "meta.json")["step"] == 3 and res.dev_scores == {}


def test_a_half_written_checkpoint_is_ignored(tmp_path):
    from xling.core.checkpoint import latest_checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "checkpoints", 2, None, {"data": {"step": 2}}, {})
    (tmp_path / "checkpoints" / "step-000004").mkdir(parents=True)  # no meta.json: never finished
    assert latest_checkpoint(tmp_path / "checkpoints").path.name == "step-000002"


def test_token_chunks_cover_every_word_once(tiny_encoder):
    task = get_task("udpos")
    tok, _ = load_model(task, str(tiny_encoder))
    words = ["бір", "екі", "үш", "төрт", "бес"] * 12  # 60 words, several subwords each
    words[7] = "ғ" * 300 + "x" * 200  # one word longer than the whole window → <unk>, as in XTREME
    sent = TaggedSentence("s", words, ["NUM"] * len(words))
    cfg = FinetuneConfig(max_seq_length=24)
    feats = ft.token_features([sent], tok, task, cfg)
    assert len(feats) > 1 and all(len(f["input_ids"]) <= 24 for f in feats)
    labelled = [w for f in feats for w in f["word_index"] if w >= 0]
    assert labelled == list(range(len(words)))  # first subword of each word, in order, once
    num = task.labels.index("NUM")
    assert all(lab in (num, -100) for f in feats for lab in f["labels"])


@pytest.mark.parametrize("which", ["first", "last"])
def test_label_subword_marks_the_first_or_last_piece_of_each_word(tiny_encoder, which):
    """Against pieces counted word by word: `tokenizer.tokenize` of each word alone, laid out after the
    model's leading special token."""
    task = get_task("udpos")
    tok, _ = load_model(task, str(tiny_encoder))
    words = ["Қазақстандағы", "кітаптарымыздың", ".", "uyghurchidin", "a"]
    tags = ["PROPN", "NOUN", "PUNCT", "NOUN", "DET"]
    feats = ft.token_features([TaggedSentence("s", words, tags)], tok, task, FinetuneConfig(label_subword=which))
    (f,) = feats
    expected_pos, pos = [], 1  # after <s>
    for w in words:
        n = len(tok.tokenize(w))
        assert n >= 1
        expected_pos.append(pos if which == "first" else pos + n - 1)
        pos += n
    assert [k for k, lab in enumerate(f["labels"]) if lab != -100] == expected_pos
    assert [f["word_index"][k] for k in expected_pos] == list(range(len(words)))
    assert [task.labels[f["labels"][k]] for k in expected_pos] == tags
    assert sum(1 for w in f["word_index"] if w >= 0) == len(words)


def test_label_subword_is_checked_and_recorded_only_when_set():
    with pytest.raises(ValueError, match="label_subword"):
        FinetuneConfig(label_subword="mean")
    assert "label_subword" not in ft.recorded_settings(FinetuneConfig())
    assert ft.recorded_settings(FinetuneConfig(label_subword="last"))["label_subword"] == "last"


def test_freeze_layers_keeps_the_bottom_blocks_pretrained(tiny_encoder, data_root, tmp_path):
    """After fine-tuning with freeze_layers=2 the embeddings and transformer layer 0 equal the pretrained
    tensors bit for bit, and every other encoder tensor has moved."""
    from safetensors.torch import load_file

    task = get_task("udpos_turkic")
    train, _ = load_split(task, "train", "en", data_root)
    cfg = FinetuneConfig(max_steps=3, batch_size=4, max_train_examples=16, learning_rate=1e-2, freeze_layers=2)
    res = finetune(task, str(tiny_encoder), train, [], tmp_path / "run", cfg)
    before = load_file(str(tiny_encoder / "model.safetensors"))
    after = load_file(str(res.model_dir / "model.safetensors"))
    frozen = moved = 0
    for name, t in after.items():
        key = next((k for k in before if k.split(".", 1)[-1] == name.split(".", 1)[-1]), None)
        if key is None or "pooler" in name:
            continue  # the new head; the pooler gets no gradient from a tagging loss
        if ".embeddings." in name or ".encoder.layer.0." in name:
            assert torch_equal(before[key], t), name
            frozen += 1
        else:
            assert not torch_equal(before[key], t), name
            moved += 1
    assert frozen >= 5 and moved >= 10
    with pytest.raises(ValueError, match="freeze_layers"):
        FinetuneConfig(freeze_layers=-1)
    assert "freeze_layers" not in ft.recorded_settings(FinetuneConfig())
    _tok, net = load_model(task, str(tiny_encoder))
    with pytest.raises(ValueError, match="exceeds"):
        ft.freeze_bottom(net, net.config.num_hidden_layers + 2, "tiny")


def torch_equal(a, b) -> bool:
    import torch

    return a.shape == b.shape and bool(torch.equal(a, b))


def test_qa_windows_and_answer_positions(tiny_encoder):
    task = get_task("xquad")
    tok, _ = load_model(task, str(tiny_encoder))
    context = " ".join(f"sentence number {i} is here." for i in range(40)) + " The answer is Almaty today."
    start = context.index("Almaty")
    ex = QAExample("q", "Where is the answer?", context, ["Almaty"], [start])
    cfg = FinetuneConfig(max_seq_length=64, doc_stride=32, max_query_length=16)
    feats = ft.qa_features([ex], tok, cfg, train=True)
    assert len(feats) > 1
    hits = [f for f in feats if f["start_positions"] > 0]
    assert hits
    for f in hits:
        s, e = f["start_positions"], f["end_positions"]
        assert context[f["offsets"][s][0]:f["offsets"][e][1]].strip() == "Almaty"


def test_qa_postprocess_hand_example():
    ex = QAExample("q", "?", "abc def ghi", ["def"], [4])
    offsets = [None, None, (0, 3), (4, 7), (8, 11), None]
    start = np.array([9.0, 0, 1, 5, 0, 0])  # CLS scores highest but is not in the context
    end = np.array([9.0, 0, 0, 6, 2, 0])
    cfg = FinetuneConfig()
    assert ft.qa_postprocess([ex], [{"offsets": offsets, "example": 0}], [(start, end)], cfg) == ["def"]
    # end before start and spans over max_answer_length are never chosen
    cfg.max_answer_length = 1
    end2 = np.array([0.0, 0, 0, 0, 9, 0])
    # "def ghi" would score 5 + 9 but is 2 tokens long; "ghi" alone (0 + 9) wins over "def" (5 + 0).
    assert ft.qa_postprocess([ex], [{"offsets": offsets, "example": 0}], [(start, end2)], cfg) == ["ghi"]


def test_unknown_label_is_an_error(tiny_encoder):
    task = get_task("xnli")
    tok, _ = load_model(task, str(tiny_encoder))
    with pytest.raises(ValueError, match="example x1 has label 'maybe'"):
        ft.classification_features([PairExample("x1", "a", "b", "maybe")], tok, task, FinetuneConfig())


def test_model_without_vocabulary_or_weights(tiny_encoder, tmp_path):
    task = get_task("xnli")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no usable tokenizer/vocabulary"):
        load_model(task, str(empty))
    grown = tmp_path / "grown"
    shutil.copytree(tiny_encoder, grown)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(grown))
    tok.add_tokens(["жаңа_сөз", "тағы_бір"])  # a tokenizer that outgrew the model's embeddings
    tok.save_pretrained(str(grown))
    with pytest.raises(ValueError, match="tokenizer has 1003 tokens but the embedding matrix 1001 rows"):
        load_model(task, str(grown))
    broken = tmp_path / "broken"
    shutil.copytree(tiny_encoder, broken)
    cfg = read_json(broken / "config.json")
    cfg["vocab_size"] = 100
    (broken / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="weights do not fit its config"):
        load_model(task, str(broken))


def test_subsample_is_deterministic():
    xs = list(range(100))
    a = ft.subsample(xs, 10, seed=3)
    assert a == ft.subsample(xs, 10, seed=3) and len(a) == 10 and a == sorted(a)
    assert ft.subsample(xs, 0, seed=3) == xs


def test_run_folder_refuses_other_settings(tiny_encoder, data_root, tmp_path):
    task = get_task("xnli")
    train, _ = load_split(task, "train", "en", data_root)
    dev, _ = load_split(task, "dev", "en", data_root)
    finetune(task, str(tiny_encoder), train, dev, tmp_path / "run", SMOKE)
    other = FinetuneConfig(**{**SMOKE.__dict__, "learning_rate": 5e-5})
    with pytest.raises(ValueError, match=r"finished with other settings: learning_rate: 0\.001 → 5e-05\. Re-run with "
                                         r"--force"):
        finetune(task, str(tiny_encoder), train, dev, tmp_path / "run", other)
    redone = finetune(task, str(tiny_encoder), train, dev, tmp_path / "run", other, force=True)
    assert redone.resumed_from == 0 and redone.steps == 2


def test_architecture_without_the_head(tiny_encoder, tmp_path):
    from transformers import CLIPTextConfig, CLIPTextModel

    d = tmp_path / "clip"
    cfg = CLIPTextConfig(vocab_size=1001, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=64, eos_token_id=2, bos_token_id=0,
                         pad_token_id=1)
    CLIPTextModel(cfg).save_pretrained(d)
    for f in tiny_encoder.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "sentencepiece")):
            shutil.copy(f, d)
    with pytest.raises(ValueError, match="has no AutoModelForTokenClassification head needed by task udpos"):
        load_model(get_task("udpos"), str(d))


def test_window_longer_than_the_model_is_refused(tiny_encoder, data_root, tmp_path):
    task = get_task("xnli")
    train, _ = load_split(task, "train", "en", data_root)
    dev, _ = load_split(task, "dev", "en", data_root)
    cfg = FinetuneConfig(**{**SMOKE.__dict__, "max_seq_length": 256})
    with pytest.raises(ValueError, match=r"max_seq_length=256 exceeds what model .* can take \(128 tokens\)"):
        finetune(task, str(tiny_encoder), train, dev, tmp_path / "run", cfg)


def test_epoch_batches_cover_every_example_once_and_group_lengths():
    import numpy as np

    from eval_xtreme.finetune import epoch_batches

    rng = np.random.default_rng(0)
    lengths = [int(x) for x in rng.integers(3, 120, size=1003)]
    for grouped in (False, True):
        batches = epoch_batches(lengths, 32, seed=7, epoch=2, group_by_length=grouped)
        assert len(batches) == -(-1003 // 32)  # ceil(n / batch): the step arithmetic of resume relies on it
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(1003))
        # a function of (seed, epoch): a resumed run sees the same batches, another epoch others
        again = epoch_batches(lengths, 32, seed=7, epoch=2, group_by_length=grouped)
        assert all((a == b).all() for a, b in zip(batches, again, strict=True))
        assert not all((a == b).all() for a, b in zip(batches, epoch_batches(lengths, 32, 7, 3, grouped), strict=True))
    # ungrouped: exactly the old order, consecutive slices of one seeded permutation
    perm = np.random.default_rng(9).permutation(1003)
    assert (np.concatenate(epoch_batches(lengths, 32, seed=7, epoch=2, group_by_length=False)) == perm).all()

    def padded(bs):
        return sum(len(b) * max(lengths[j] for j in b) for b in bs)

    # grouping pads far less than random batches (here: to within 10% of the real token count)
    grouped = epoch_batches(lengths, 32, 7, 2, True)
    assert padded(grouped) < 1.1 * sum(lengths) < padded(epoch_batches(lengths, 32, 7, 2, False))


def test_dropout_setting_turns_every_dropout_layer_off(tiny_encoder):
    import torch

    task = get_task("udpos_turkic")
    tokenizer, net = load_model(task, str(tiny_encoder))
    batch = tokenizer(["bir iki üç", "one two three four"], return_tensors="pt", padding=True)
    net.train()
    torch.manual_seed(0)
    assert not torch.equal(net(**batch).logits, net(**batch).logits)  # the model's own dropout is on
    ft.set_dropout(net, 0.0)
    assert torch.equal(net(**batch).logits, net(**batch).logits)
    net.eval()
    reference = net(**batch).logits  # eval mode: no dropout whatever p is
    net.train()
    assert torch.allclose(net(**batch).logits, reference, atol=1e-6)


def test_dropout_is_a_setting_of_the_run(tiny_encoder, data_root, tmp_path):
    task = get_task("xnli")
    train, _ = load_split(task, "train", "en", data_root)
    dev, _ = load_split(task, "dev", "en", data_root)
    finetune(task, str(tiny_encoder), train, dev, tmp_path / "run", SMOKE)
    record = read_json(tmp_path / "run" / "stage.json")
    # unset (the model's own) is not in the fingerprint, so records from before the field stay valid
    assert "dropout" not in record["fingerprint_body"]["config"]
    with pytest.raises(ValueError, match=r"dropout: <unset> → 0\.0"):
        finetune(task, str(tiny_encoder), train, dev, tmp_path / "run", FinetuneConfig(**{**SMOKE.__dict__, "dropout": 0.0}))
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        FinetuneConfig(dropout=1.0)
