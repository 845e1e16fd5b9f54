"""Token shards (cached, atomic), temperature-sampled packing, rank/worker-independent batches."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from xling.core.errors import InputError
from xling.data import DataConfig, MicroSchedule, MonoPlan, load_shards, prepare_shards, take_wrapped


def _cfg(tiny_text, **kw) -> DataConfig:
    files = {lang: str(tiny_text[lang]) for lang in ("kaz_Cyrl", "uig_Arab", "eng_Latn")}
    return DataConfig(files=files, max_len=32, eval_fraction=0.05, eval_max_docs=10, **kw)


def test_shards_are_cached_by_content_and_hold_all_tokens(tiny_text, tiny_spm, tmp_path):
    from tokenizers import Tokenizer

    cfg = _cfg(tiny_text)
    folders = prepare_shards(cfg, tiny_spm, tmp_path, progress=False)
    shards = load_shards(folders)
    assert sorted(shards) == ["eng_Latn", "kaz_Cyrl", "uig_Arab"]
    kk = shards["kaz_Cyrl"]
    assert kk.train.dtype == np.uint16 and kk.n_eval_docs == 10
    tok = Tokenizer.from_file(str(tiny_spm / "tokenizer.json"))
    lines = [ln for ln in tiny_text["kaz_Cyrl"].read_text(encoding="utf-8").splitlines() if ln.strip()]
    n_expected = sum(len(e.ids) + 1 for e in tok.encode_batch(lines, add_special_tokens=False))  # + </s> each
    assert len(kk.train) + len(kk.eval) == n_expected
    assert int((np.asarray(kk.train) == 2).sum()) == kk.n_docs  # one </s> per document
    # cached: same folders, nothing rewritten
    stamp = (folders["kaz_Cyrl"] / "train.bin").stat().st_mtime_ns
    assert prepare_shards(cfg, tiny_spm, tmp_path, progress=False) == folders
    assert (folders["kaz_Cyrl"] / "train.bin").stat().st_mtime_ns == stamp
    # changed settings → a new key
    again = prepare_shards(_cfg(tiny_text, max_docs_per_lang=100), tiny_spm, tmp_path, progress=False)
    assert again["kaz_Cyrl"] != folders["kaz_Cyrl"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_missing_and_empty_inputs_give_clear_errors(tiny_text, tiny_spm, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(ValueError, match=r"language tat_Cyrl: no text in .*empty.txt"):
        prepare_shards(DataConfig(files={"tat_Cyrl": str(empty)}), tiny_spm, tmp_path / "c", progress=False)
    with pytest.raises(FileNotFoundError, match=r"data\.files\.kaz_Cyrl"):
        DataConfig(files={"kaz_Cyrl": str(tmp_path / "nope.txt")}).input_files()
    with pytest.raises(ValueError, match="not a language code"):
        DataConfig(files={"kazakh": str(tiny_text["kaz_Cyrl"])}).input_files()
    with pytest.raises(ValueError, match="no input text"):
        DataConfig().input_files()
    with pytest.raises(ValueError, match="no input files for uzb_Latn"):
        _cfg(tiny_text, languages=["kaz_Cyrl", "uzb_Latn"]).input_files()
    with pytest.raises(FileNotFoundError, match="corpus folder"):
        DataConfig(corpus=[str(tmp_path / "no-corpus")]).input_files()


def test_cleaned_corpus_folders_are_read(tmp_path, tiny_spm):
    from xling.core.io import write_jsonl_atomic

    root = tmp_path / "corpus"
    write_jsonl_atomic(root / "kept" / "kaz_Cyrl" / "000.jsonl.gz",
                       [{"id": str(i), "text": f"Ақ көңілдің аты арып {i}", "lang": "kaz_Cyrl", "lang_score": 1.0,
                         "source": "t"} for i in range(30)])
    cfg = DataConfig(corpus=[str(root)], max_len=16)
    shards = load_shards(prepare_shards(cfg, tiny_spm, tmp_path / "cache", progress=False))
    assert list(shards) == ["kaz_Cyrl"] and shards["kaz_Cyrl"].n_docs + shards["kaz_Cyrl"].n_eval_docs == 30


def test_plan_follows_temperature_probabilities_and_packs_without_padding():
    from corpora.sampling import AlphaSchedule, sampling_plan

    tokens = {"eng_Latn": 90_000, "kaz_Cyrl": 9_000, "uig_Arab": 1_000}
    streams = {k: np.arange(n, dtype=np.uint16) % 997 + 4 for k, n in tokens.items()}
    n = 40_000
    plan = MonoPlan(tokens, 30, n, seed=3, schedule=AlphaSchedule([(0.0, 0.3)]))
    want = sampling_plan(tokens, 0.3, total=n * 30, unit="tokens").probabilities()
    langs = [plan.lookup(i)[0] for i in range(n)]
    for lang, p in want.items():
        assert abs(langs.count(lang) / n - p) < 5 * (p * (1 - p) / n) ** 0.5
    sampled = plan.sampled_tokens(n)
    assert sum(sampled.values()) == n * 30 and sampled["uig_Arab"] == langs.count("uig_Arab") * 30
    # occurrences count up per language and blocks are full length
    occ = [plan.lookup(i)[1] for i in range(n) if langs[i] == "uig_Arab"]
    assert occ == list(range(len(occ)))
    blocks = [plan.block_tokens(streams["uig_Arab"], "uig_Arab", k) for k in range(2 * plan.n_blocks["uig_Arab"])]
    assert all(len(b) == 30 for b in blocks)
    # the first pass covers every block start once
    first = sorted(int(b[0]) for b in blocks[: plan.n_blocks["uig_Arab"]])
    assert first == sorted(int(streams["uig_Arab"][j * 30]) for j in range(plan.n_blocks["uig_Arab"]))
    # determinism: a fresh plan gives the same answer for any index, in any order
    again = MonoPlan(tokens, 30, n, seed=3, schedule=AlphaSchedule([(0.0, 0.3)]))
    assert [again.lookup(i) for i in (39_999, 5, 20_000)] == [plan.lookup(i) for i in (39_999, 5, 20_000)]


def test_alpha_schedule_and_max_repeats_shift_the_mix():
    from corpora.sampling import AlphaSchedule

    tokens = {"eng_Latn": 100_000, "uig_Arab": 1_000}
    n = 20_000
    plan = MonoPlan(tokens, 10, n, seed=0, schedule=AlphaSchedule([(0.0, 1.0), (1.0, 0.0)], anneal=True))
    early = [plan.lookup(i)[0] for i in range(2000)].count("uig_Arab") / 2000
    late = [plan.lookup(i)[0] for i in range(n - 2000, n)].count("uig_Arab") / 2000
    assert early < 0.05 and late > 0.4
    capped = MonoPlan(tokens, 10, n, seed=0, schedule=AlphaSchedule([(0.0, 0.0)]), max_repeats=5)
    assert capped.plans[0].languages["uig_Arab"].repeats <= 5 + 1e-9


def test_a_run_longer_than_max_repeats_allows_names_the_settings_to_change():
    from corpora.sampling import AlphaSchedule

    # 101,000 tokens, 10 passes at most: 101,000 blocks of 10 fit exactly; 101,001 blocks (1,010,010 tokens) do not
    tokens = {"eng_Latn": 100_000, "uig_Arab": 1_000}
    MonoPlan(tokens, 10, 101_000, seed=0, schedule=AlphaSchedule([(0.0, 0.3)]), max_repeats=10)
    with pytest.raises(InputError) as e:
        MonoPlan(tokens, 10, 101_001, seed=0, schedule=AlphaSchedule([(0.0, 0.3)]), max_repeats=10)
    for name in ("data.max_repeats", "pretrain.common.data.max_repeats", "train.max_steps", "1,010,010 tokens",
                 "101,000 tokens"):
        assert name in str(e.value)


def test_take_wrapped_never_pads():
    s = np.arange(10)
    assert take_wrapped(s, 8, 5).tolist() == [8, 9, 0, 1, 2]
    assert take_wrapped(np.arange(3), 1, 7).tolist() == [1, 2, 0, 1, 2, 0, 1]


def test_micro_batch_indices_do_not_depend_on_the_rank_split():
    one = {MicroSchedule.index(s, a, 0, 4, 1) for s in range(3) for a in range(4)}
    two = {MicroSchedule.index(s, a, r, 2, 2) for s in range(3) for a in range(2) for r in range(2)}
    four = {MicroSchedule.index(s, 0, r, 1, 4) for s in range(3) for r in range(4)}
    assert one == two == four == set(range(12))
    sched = MicroSchedule([3.0, 1.0], [True, False], 4000, seed=0)
    assert abs(sched.is_mono.mean() - 0.75) < 0.05
    assert sched.mono_slot[sched.is_mono].tolist() == list(range(sched.n_mono))


@pytest.mark.skipif(os.name != "posix", reason="fork start method")
def test_dataloader_workers_give_the_same_batches(tiny_text, tiny_spm, tmp_path):
    from transformers import AutoTokenizer

    from corpora.sampling import AlphaSchedule
    from xling.data import MonoBatches, mono_loader
    from xling.objectives import SpecialIds
    from xling.objectives.mlm import MLM, MLMConfig

    shards = load_shards(prepare_shards(_cfg(tiny_text), tiny_spm, tmp_path, progress=False))
    special = SpecialIds.from_tokenizer(AutoTokenizer.from_pretrained(str(tiny_spm)))
    sched = MicroSchedule([1.0], [True], 16, seed=0)
    plan = MonoPlan({k: len(v.train) for k, v in shards.items()}, 30, 16 * 2, 0, AlphaSchedule([(0.0, 0.3)]))
    ds = MonoBatches(plan, shards, sched, [MLM(MLMConfig(), special, 32, {})], 2, seed=0)
    idx = [1, 3, 5, 7, 9]
    inline = list(mono_loader(ds, idx, 0))
    workers = list(mono_loader(ds, idx, 2))
    for (a, la), (b, lb) in zip(inline, workers, strict=True):
        assert la == lb
        for k in a:
            assert torch.equal(a[k], b[k])
    assert all((b["attention_mask"] == 1).all() for b, _ in inline)  # packed: no padding
