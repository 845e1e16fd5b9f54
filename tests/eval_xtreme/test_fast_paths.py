"""The fast paths of fine-tuning, tagging and retrieval encoding against straightforward reference code.

Each reference below is the plain loop one would write from the Hugging Face documentation (one
tokenizer call per sentence, torch's default AdamW, input-order batches padded to their longest
member): the fast code must give the same features, the same losses and the same predictions.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from eval_xtreme import finetune as ft
from eval_xtreme.finetune import FinetuneConfig, finetune, load_model, predict
from eval_xtreme.loaders import TaggedSentence, load_split
from eval_xtreme.tasks import get_task
from xling.core.io import read_jsonl

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def reference_token_features(examples, tokenizer, task, cfg) -> list[dict]:
    """One sentence at a time, as XTREME's *_tokenize_preprocess: pieces per word, words longer than the
    window → <unk>, greedy chunks of whole words, each chunk encoded with the special tokens."""
    label2id = {lab: i for i, lab in enumerate(task.labels)}
    budget = cfg.max_seq_length - tokenizer.num_special_tokens_to_add(pair=False)
    unk = tokenizer.unk_token
    feats = []
    for i, ex in enumerate(examples):
        words = [w if w.strip() else unk for w in ex.tokens]
        if not words:
            continue
        enc = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
        n_pieces = [0] * len(words)
        for w in enc.word_ids():
            if w is not None:
                n_pieces[w] += 1
        for w, n in enumerate(n_pieces):
            if n > budget or n == 0:
                words[w], n_pieces[w] = unk, 1
        chunks, start, used = [], 0, 0
        for w, n in enumerate(n_pieces):
            if used + n > budget and w > start:
                chunks.append((start, w))
                start, used = w, 0
            used += n
        chunks.append((start, len(words)))
        for w0, w1 in chunks:
            cenc = tokenizer(words[w0:w1], is_split_into_words=True, truncation=True, max_length=cfg.max_seq_length)
            labels, index, prev = [], [], None
            for w in cenc.word_ids():
                first = w is not None and w != prev
                labels.append(label2id[ex.tags[w0 + w]] if first else -100)
                index.append(w0 + w if first else -1)
                prev = w
            feats.append({"input_ids": cenc["input_ids"], "attention_mask": cenc["attention_mask"], "example": i,
                          "word_index": index, "labels": labels})
    return feats


def synthetic_sentences(n: int, seed: int = 0) -> list[TaggedSentence]:
    """Kazakh/Uyghur/English words of every length, one over-long word, blank and empty tokens."""
    rng = random.Random(seed)
    vocab = ["бір", "екі", "Қазақстан", "мемлекеттік", "ئۇيغۇر", "تىلى", "the", "unbelievably", "x", "42", "."]
    tags = ["NOUN", "VERB", "ADJ", "NUM", "PUNCT", "PROPN"]
    out = []
    for i in range(n):
        words = [rng.choice(vocab) for _ in range(rng.randint(1, 40))]
        if i % 7 == 3:
            words[0] = "ғ" * 300  # longer than the whole window: becomes <unk>
        if i % 11 == 5:
            words[-1] = " "  # no piece at all: becomes <unk>
        out.append(TaggedSentence(f"s{i}", words, [rng.choice(tags) for _ in words]))
    return out


@pytest.mark.parametrize("max_len", [16, 128])
def test_batched_token_features_equal_the_per_sentence_reference(tiny_encoder, max_len):
    task = get_task("udpos")
    tok, _ = load_model(task, str(tiny_encoder))
    cfg = FinetuneConfig(max_seq_length=max_len)
    sents = synthetic_sentences(120)
    fast = ft.token_features(sents, tok, task, cfg)
    ref = reference_token_features(sents, tok, task, cfg)
    assert len(fast) == len(ref) and (max_len > 16 or len(fast) > len(sents))  # the short window chunks
    for f, r in zip(fast, ref, strict=True):
        assert f == r


def test_batched_token_features_on_real_treebanks(tiny_encoder, data_root):
    task = get_task("udpos_turkic")
    tok, _ = load_model(task, str(tiny_encoder))
    cfg = FinetuneConfig(max_seq_length=32)
    for lang in ("en", "ug", "kk"):
        split = "dev" if lang == "en" else "test"
        sents = load_split(task, split, lang, data_root)[0][:150]
        assert ft.token_features(sents, tok, task, cfg) == reference_token_features(sents, tok, task, cfg), lang


def reference_losses(task, model, train, cfg, steps) -> list[float]:
    """The fine-tuning loop written plainly: torch's default AdamW, the same batches and schedule."""
    import torch

    from xling.core.train_loop import lr_at

    torch.manual_seed(cfg.seed)
    tok, net = load_model(task, model)
    feats = reference_token_features(train, tok, task, cfg)
    opt = torch.optim.AdamW([{"params": list(net.parameters()), "weight_decay": 0.0}], lr=cfg.learning_rate)
    batches = ft.epoch_batches([len(f["input_ids"]) for f in feats], cfg.batch_size, cfg.seed, 0, True)
    net.train()
    losses = []
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, lr=cfg.learning_rate, warmup_steps=int(cfg.warmup_ratio * steps),
                            total_steps=steps, schedule="linear")
        rows = [feats[j] for j in batches[step]]
        width = max(len(r["input_ids"]) for r in rows)
        batch = {"input_ids": torch.tensor([r["input_ids"] + [tok.pad_token_id] * (width - len(r["input_ids"]))
                                            for r in rows]),
                 "attention_mask": torch.tensor([r["attention_mask"] + [0] * (width - len(r["input_ids"]))
                                                 for r in rows]),
                 "labels": torch.tensor([r["labels"] + [-100] * (width - len(r["input_ids"])) for r in rows])}
        loss = net(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


def test_finetune_losses_and_predictions_match_a_plain_loop(tiny_encoder, tmp_path):
    import torch

    task = get_task("udpos")
    train, test = synthetic_sentences(96, seed=1), synthetic_sentences(40, seed=2)
    cfg = FinetuneConfig(max_steps=6, batch_size=8, eval_batch_size=16, learning_rate=1e-3, max_seq_length=32,
                         seed=3)
    res = finetune(task, str(tiny_encoder), train, [], tmp_path / "run", cfg)
    fast = [r["loss"] for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if "loss" in r]
    ref = reference_losses(task, str(tiny_encoder), train, cfg, 6)
    # same dropout masks and batches; the fused AdamW differs from the per-tensor loop by float rounding only
    np.testing.assert_allclose(fast, ref, rtol=1e-4)
    assert not math.isclose(fast[0], fast[-1])  # it trained

    tok, net = load_model(task, str(res.model_dir))
    preds = predict(task, net, tok, test, cfg)
    # reference prediction: one sentence at a time, no padding at all
    net.eval()
    feats = reference_token_features(test, tok, task, cfg)
    expect: list[list[str | None]] = [[None] * len(s.tokens) for s in test]
    with torch.inference_mode():
        for f in feats:
            tags = net(input_ids=torch.tensor([f["input_ids"]])).logits[0].argmax(-1)
            for pos, w in enumerate(f["word_index"]):
                if w >= 0:
                    expect[f["example"]][w] = task.labels[int(tags[pos])]
    assert preds == [[t or task.labels[0] for t in s] for s in expect]


def test_a_split_is_parsed_once_and_reread_when_its_file_changes(tmp_path, monkeypatch):
    from eval_xtreme import loaders

    f = tmp_path / "udpos" / "UD_English-A" / "en_a-ud-test.conllu"
    f.parent.mkdir(parents=True)
    f.write_text("1\tbee\tbee\tNOUN\t_\t_\t0\troot\t_\t_\n\n", encoding="utf-8")
    calls = []
    real = loaders.LOADERS.get("conllu")
    monkeypatch.setitem(loaders.LOADERS._items, "conllu", lambda df: calls.append(df) or real(df))
    first, _ = load_split(get_task("udpos"), "test", "en", tmp_path)
    first.append("changed by the caller")  # a caller's own copy
    again, _ = load_split(get_task("udpos"), "test", "en", tmp_path)
    assert len(calls) == 1 and [s.tokens for s in again] == [["bee"]]
    f.write_text("1\tzed\tzed\tNOUN\t_\t_\t0\troot\t_\t_\n\n1\tx\tx\tX\t_\t_\t0\troot\t_\t_\n\n", encoding="utf-8")
    changed, _ = load_split(get_task("udpos"), "test", "en", tmp_path)
    assert len(calls) == 2 and [s.tokens for s in changed] == [["zed"], ["x"]]


@pytest.mark.parametrize("layer", [0, -1])
def test_encoder_equals_a_plain_hf_loop(tiny_encoder, layer):
    """Length-sorted batches, one tokenizer call and the blocks after the layer dropped: the same embeddings
    as input-order batches through the whole model with output_hidden_states."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from eval_xtreme.retrieval import Encoder

    rng = random.Random(4)
    words = ["Сәлем", "әлем", "بۈگۈن", "ھاۋا", "yaxshi", "good", "morning", "!"]
    sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 60))) for _ in range(50)] + [""]
    tok, net = AutoTokenizer.from_pretrained(str(tiny_encoder)), AutoModel.from_pretrained(str(tiny_encoder)).eval()
    expect = []
    with torch.no_grad():
        for i in range(0, len(sentences), 8):
            batch = tok(sentences[i:i + 8], padding=True, truncation=True, max_length=40, return_tensors="pt")
            hidden = net(**batch, output_hidden_states=True).hidden_states[layer + 1 if layer >= 0 else layer]
            mask = batch["attention_mask"].unsqueeze(-1).float()
            expect.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    enc = Encoder(str(tiny_encoder), layer=layer, max_length=40, batch_size=8, device="cpu")
    assert enc.truncated and len(enc.model.encoder.layer) == (1 if layer == 0 else 2)
    np.testing.assert_allclose(enc(sentences), np.concatenate(expect), atol=2e-5)
