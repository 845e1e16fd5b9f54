"""`baseline:char-bilstm`: the tagger trained from scratch (eval_xtreme/scratch_tagger.py)."""

from __future__ import annotations

import random

import pytest
import torch

from eval_xtreme.baselines import MFT, MFT_TURKIC, SCRATCH, MostFrequentTagTagger, evaluate_baselines
from eval_xtreme.loaders import TaggedSentence
from eval_xtreme.scratch_tagger import ScratchTaggerConfig, train_scratch_tagger
from eval_xtreme.tasks import get_task

SMALL = ScratchTaggerConfig(char_dim=16, char_hidden=16, word_dim=16, hidden=32, layers=1, dropout=0.1,
                            max_steps=250, eval_every=50, batch_size=16, learning_rate=5e-3)


def _language(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """A made-up language whose tags follow two rules a lookup cannot both learn: a word's ending
    gives its tag (-lar NOUN, -dik VERB, -li ADJ) on stems never repeated, and the particle "ki" is
    a SCONJ after a verb and a PRON elsewhere (context)."""
    rng = random.Random(seed)
    endings = {"lar": "NOUN", "dik": "VERB", "li": "ADJ"}
    out = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(rng.randint(3, 7)):
            if tokens and rng.random() < 0.3:
                tokens.append("ki")
                tags.append("SCONJ" if tags[-1] == "VERB" else "PRON")
                continue
            stem = "".join(rng.choice("bcdfgkmnprstz") + rng.choice("aeiou") for _ in range(rng.randint(1, 3)))
            end = rng.choice(list(endings))
            tokens.append(stem + end)
            tags.append(endings[end])
        out.append((tokens, tags))
    return out


def _accuracy(pred: list[list[str]], gold: list[list[str]]) -> float:
    pairs = [(p, g) for ps, gs in zip(pred, gold, strict=True) for p, g in zip(ps, gs, strict=True)]
    return sum(p == g for p, g in pairs) / len(pairs)


def test_learns_endings_of_unseen_words_and_context_a_lookup_cannot():
    torch.set_num_threads(1)
    train, dev, test = _language(300, 0), _language(40, 1), _language(60, 2)
    tagger = train_scratch_tagger(train, dev, SMALL)
    gold = [g for _, g in test]
    got = tagger.tag_all([t for t, _ in test])
    # the generating rules are the reference: endings of unseen stems and "ki" by its left neighbour
    assert _accuracy(got, gold) > 0.97
    ki = [(p, g) for ps, gs, (ts, _) in zip(got, gold, test, strict=True)
          for p, g, t in zip(ps, gs, ts, strict=True) if t == "ki"]
    assert len({g for _, g in ki}) == 2 and sum(p == g for p, g in ki) / len(ki) > 0.95
    # the lookup gets every ending but must give "ki" one tag: its minority reading is always wrong
    lookup = MostFrequentTagTagger().fit(train)
    majority = max(sum(g == t for _, g in ki) for t in ("PRON", "SCONJ")) / len(ki)
    assert sum(lookup.tag(["ki"])[0] == g for _, g in ki) / len(ki) == majority < 0.9
    assert tagger.tag([]) == [] and tagger.tag_all([[], ["ki"]])[0] == []


def test_same_data_and_settings_give_the_same_tagger():
    torch.set_num_threads(1)
    train, dev = _language(60, 3), _language(10, 4)
    cfg = ScratchTaggerConfig(char_dim=8, char_hidden=8, word_dim=8, hidden=8, layers=1, max_steps=30, eval_every=10)
    a, b = train_scratch_tagger(train, dev, cfg), train_scratch_tagger(train, dev, cfg)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    c = train_scratch_tagger(train, dev, ScratchTaggerConfig(**{**cfg.__dict__, "seed": 1}))
    assert not torch.equal(a.out.weight, c.out.weight)


def test_keeps_the_state_with_the_best_dev_score():
    torch.set_num_threads(1)
    train, dev = _language(60, 5), _language(15, 6)
    seen: list[float] = []
    cfg = ScratchTaggerConfig(char_dim=8, char_hidden=8, word_dim=8, hidden=8, layers=1, max_steps=60, eval_every=10)
    tagger = train_scratch_tagger(train, dev, cfg, lambda m: seen.append(float(m.rsplit(" ", 1)[1])))
    from eval_xtreme.metrics import compute

    kept = compute("pos_accuracy", tagger.tag_all([t for t, _ in dev]), [g for _, g in dev])["f1"]
    assert len(seen) == 6 and kept == pytest.approx(max(seen), abs=1e-2)


def test_bad_training_data_is_named():
    with pytest.raises(ValueError, match="sentence 1 has 2 words but 1 tags"):
        train_scratch_tagger([(["a"], ["X"]), (["a", "b"], ["X"])], cfg=SMALL)
    with pytest.raises(ValueError, match="no tagged sentences"):
        train_scratch_tagger([([], [])], cfg=SMALL)
    with pytest.raises(ValueError, match="word_dropout"):
        ScratchTaggerConfig(word_dropout=1.0)


def test_beside_the_lookups_it_reads_words_in_the_turkic_spelling(monkeypatch):
    """Trained on Turkish, it tags Kazakh Cyrillic only through the Turkic spelling, as the lookup
    beside it: бардық → bardık ends like kaldık (VERB), үйлерде → üylerde like evlerde (NOUN)."""
    torch.set_num_threads(1)
    task = get_task("udpos_turkic_tr")
    base = [(["Evlerde", "kaldık", "."], ["NOUN", "VERB", "PUNCT"]), (["okullarda", "geldik", "."], ["NOUN", "VERB", "PUNCT"]),
            (["güzel", "evlerde", "oturduk", "."], ["ADJ", "NOUN", "VERB", "PUNCT"]),
            (["kitaplarda", "yazdık"], ["NOUN", "VERB"])]
    train = [TaggedSentence(f"s{i}", list(t), list(g)) for i, (t, g) in enumerate(base * 10)]
    # the order no training sentence has, so position alone does not give the tags
    test = [TaggedSentence("k", ["бардық", "үйлерде", "."], ["VERB", "NOUN", "PUNCT"])]
    cfg = ScratchTaggerConfig(char_dim=16, char_hidden=16, word_dim=8, hidden=16, layers=1, max_steps=120,
                              eval_every=40, learning_rate=1e-2)
    recs: dict = {}
    got = evaluate_baselines(task, ["kk"], lambda _: test, lambda: train, suffix_spelling="turkic",
                             scratch=cfg, load_dev=lambda: train[:4], records=recs)
    assert set(got) == {MFT, MFT_TURKIC, SCRATCH}
    assert got[SCRATCH]["kk"]["accuracy"] == pytest.approx(100.0) == got[MFT_TURKIC]["kk"]["accuracy"]
    assert recs[SCRATCH]["kk"][0]["prediction"] == ["VERB", "NOUN", "PUNCT"]
    # in its own spelling the Cyrillic words share no letter with the training words
    native = evaluate_baselines(task, ["kk"], lambda _: test, lambda: train, scratch=cfg, load_dev=lambda: train[:4])
    assert set(native) == {MFT, SCRATCH} and native[SCRATCH]["kk"]["accuracy"] < 100.0


def test_eval_run_trains_it_only_when_asked_and_pairs_it_like_a_lookup(tiny_encoder, tmp_path, data_root, monkeypatch):
    """`scratch_tagger: true` adds the column on the test languages and on the source's whole dev split,
    with records in the lookups' layout; off (the default), a finished task's settings are as before."""
    import eval_xtreme.baselines as B
    from eval_xtreme.finetune import FinetuneConfig
    from eval_xtreme.runner import EvalConfig, _settings, run_eval
    from xling.core.io import read_json, read_jsonl

    monkeypatch.setattr(B, "_scratch_config", lambda: ScratchTaggerConfig(
        char_dim=8, char_hidden=8, word_dim=8, hidden=8, layers=1, max_steps=20, eval_every=10))
    B._SCRATCH_CACHE.clear()
    trained: list[int] = []
    assert not hasattr(B, "train_scratch_tagger")  # imported where it is used: the lookups need no torch
    import eval_xtreme.scratch_tagger as S

    original = S.train_scratch_tagger
    monkeypatch.setattr(S, "train_scratch_tagger", lambda *a, **k: trained.append(1) or original(*a, **k))
    ft = FinetuneConfig(max_steps=2, batch_size=4, max_train_examples=8, max_dev_examples=4)
    cfg = EvalConfig(model=str(tiny_encoder), tasks=["udpos_turkic_tr:kk"], out=str(tmp_path / "on"), threads=1,
                     max_eval_examples=5, bootstrap_resamples=50, scratch_tagger=True, finetune=ft)
    task = get_task("udpos_turkic_tr")
    off = EvalConfig(model=str(tiny_encoder), tasks=["udpos_turkic_tr:kk"], finetune=ft)
    assert "scratch_tagger" not in _settings(off, task) and _settings(cfg, task)["scratch_tagger"] is True
    assert "scratch_tagger" not in _settings(cfg, get_task("tatoeba_turkic"))
    results = run_eval(cfg)
    assert trained == [1]  # once for the test languages and the source's dev split
    base = results["baselines"][SCRATCH]["udpos_turkic_tr"]["kk"]
    recs = list(read_jsonl(tmp_path / "on" / "baselines" / "char-bilstm" / "predictions" / "udpos_turkic_tr" / "kk.jsonl"))
    assert len(recs) == 5 and base["accuracy"] == pytest.approx(
        100 * _accuracy([r["prediction"] for r in recs], [r["gold"] for r in recs]))
    sd = read_json(tmp_path / "on" / "results.json")["details"]["udpos_turkic_tr"]["finetune"]["source_dev"]
    assert set(sd["baselines"]) == {MFT, SCRATCH}
    report = (tmp_path / "on" / "report.md").read_text(encoding="utf-8")
    assert "`baseline:char-bilstm`: a tagger trained from scratch" in report
