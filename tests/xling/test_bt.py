"""Back-translation: scoring, a tiny train → translate (interrupted, resumed) → score round trip."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from xling.bt.score import corpus_scores, load_test_set
from xling.core.errors import InputError
from xling.core.io import read_json, read_jsonl
from xling.parallel import read_tsv, write_tsv_pairs


def test_corpus_scores():
    refs = ["Мен кітап оқимын .", "Қала үлкен ."]
    perfect = corpus_scores(refs, refs)
    assert perfect["bleu"] == pytest.approx(100) and perfect["chrf"] == pytest.approx(100)
    partial = corpus_scores(["Мен кітапты оқимын .", "Қала кішкентай ."], refs)
    assert 0 < partial["chrf"] < 100 and partial["chrf"] > partial["bleu"]  # chrF credits shared stems
    assert set(partial["signatures"]) == {"bleu", "chrf", "chrf++"} and partial["n"] == 2
    with pytest.raises(ValueError, match="align"):
        corpus_scores(["a"], refs)


REFS = ["Мен кітап оқимын .", "Қала үлкен .", "Бүгін ауа райы жақсы .", "Ол мектепке барды .",
        "Біз Алматыда тұрамыз .", "Сен қайда барасың ?", "Бұл менің үйім .", "Олар 2015 жылы келді ."]
HYPS = ["Мен кітапты оқимын .", "Қала кішкентай .", "Бүгін ауа жақсы .", "Ол үйге барды .",
        "Біз Астанада тұрамыз .", "Қайда барасың ?", "Бұл үй .", "Олар келді ."]
SRCS = ["Я читаю книгу .", "Город большой .", "Сегодня хорошая погода .", "Он пошёл в школу .",
        "Мы живём в Алматы .", "Куда ты идёшь ?", "Это мой дом .", "Они приехали в 2015 году ."]


def test_chrf_resamples_score_like_sacrebleu_on_the_resampled_corpus():
    """Summed per-line statistics against sacrebleu's corpus_score of the resampled line lists."""
    import numpy as np
    from sacrebleu.metrics import CHRF

    from xling.bt.score import ChrfStats

    stats = ChrfStats(HYPS, REFS)
    assert stats.score() == pytest.approx(corpus_scores(HYPS, REFS)["chrf"], abs=1e-9)
    idx = np.random.default_rng(3).integers(0, len(REFS), size=(6, len(REFS)))
    want = [CHRF().corpus_score([HYPS[i] for i in row], [[REFS[i] for i in row]]).score for row in idx]
    assert stats.resampled(idx) == pytest.approx(want, abs=1e-9)


def test_chrf_intervals_paired_against_the_copy_floor():
    from xling.bt.score import chrf_intervals

    same = chrf_intervals(HYPS, HYPS, REFS, n_resamples=200)
    assert same["delta"]["delta"] == 0 and same["delta"]["ci95"] == [0.0, 0.0] and not same["delta"]["significant"]
    assert same["chrf_ci95"] == same["baseline_chrf_ci95"]
    better = chrf_intervals(REFS, SRCS, REFS, n_resamples=200)  # perfect output vs untranslated Russian
    lo, hi = better["chrf_ci95"]
    assert lo == hi == pytest.approx(100)
    assert better["delta"]["significant"] and better["delta"]["ci95"][0] > 50
    mid = chrf_intervals(HYPS, SRCS, REFS, n_resamples=200)
    point = corpus_scores(HYPS, REFS)["chrf"]
    assert mid["chrf_ci95"][0] < point < mid["chrf_ci95"][1]
    assert mid["delta"]["delta"] == pytest.approx(point - corpus_scores(SRCS, REFS)["chrf"])


def test_load_test_set(tmp_path):
    p = write_tsv_pairs(tmp_path / "t.tsv", [("a", "b"), ("c", "d")])
    assert load_test_set(str(p), reverse=True).sources == ["b", "d"]
    with pytest.raises(FileNotFoundError):
        load_test_set(str(tmp_path / "missing.tsv"))


@pytest.fixture(scope="module")
def kk_ru_pairs(data_root, tmp_path_factory):
    from xling.parallel import read_aligned

    d = data_root / "parallel/kk-ru/apertium_kaz_rus_CORPUS"
    pairs = [(s, t) for s, t in read_aligned(d / "election-kaz-660.xz", d / "election-ru-660.xz", True)
             if s and t and len(s) < 120][:40]
    return write_tsv_pairs(tmp_path_factory.mktemp("bt") / "kk-ru.tsv", pairs)


@pytest.mark.slow
def test_bt_round_trip(tiny_spm, kk_ru_pairs, tmp_path):
    from xling.bt.train import BTTrainConfig, train_bt
    from xling.bt.translate import TranslateConfig, run_translate
    from xling.cli import main
    from xling.core.config import from_dict
    from xling.parallel import ParallelConfig, ParallelSource, load_parallel

    cfg = from_dict(BTTrainConfig, {
        "tokenizer": str(tiny_spm),
        "parallel": {"sources": [{"src": str(kk_ru_pairs), "src_lang": "kaz_Cyrl", "tgt_lang": "rus_Cyrl"}]},
        "model": {"size": "tiny", "d_model": 32, "heads": 2, "ffn": 64, "max_len": 32},
        "steps": 4, "batch_size": 8, "warmup_steps": 1, "valid_pairs": 4, "eval_pairs": 2, "eval_beams": 1,
        "save_every": 2, "log_every": 2, "threads": 1})
    model_dir = train_bt(cfg, tmp_path / "bt")
    assert (model_dir / "config.json").is_file() and (model_dir / "tokenizer.json").is_file()
    scores = read_json(tmp_path / "bt/scores.json")
    assert set(scores) == {"kaz_Cyrl-rus_Cyrl", "rus_Cyrl-kaz_Cyrl"} and scores["kaz_Cyrl-rus_Cyrl"]["n"] == 2
    assert len(read_tsv(tmp_path / "bt/valid/kaz_Cyrl-rus_Cyrl.tsv")) == 4
    assert "BLEU" in (tmp_path / "bt/report.md").read_text()

    mono = tmp_path / "mono.txt"
    mono.write_text("\n".join(s for s, _ in read_tsv(kk_ru_pairs)[:10]) + "\n", encoding="utf-8")
    tcfg = TranslateConfig(model=str(model_dir), inputs=[str(mono)], beams=2, batch_size=4, chunk_lines=4,
                           lid="script", max_length_ratio=100.0, min_script_fraction=0.0, max_lines=10)
    whole = run_translate(tcfg, tmp_path / "whole")
    assert whole["lines_done"] == 10 and whole["finished"]
    n_out = len((tmp_path / "whole/pairs.tsv").read_text().splitlines())
    n_removed = len((tmp_path / "whole/removed.tsv").read_text().splitlines())
    assert n_out + n_removed == 10 and whole["kept"] == n_out

    # interrupted after one chunk, with half a chunk appended but never recorded → resumed
    part = tmp_path / "part"
    run_translate(TranslateConfig(**{**vars(tcfg), "max_lines": 4}), part)
    with open(part / "pairs.tsv", "a", encoding="utf-8") as f:
        f.write("half-written\tchunk\n")
    progress = read_json(part / "progress.json")
    progress["finished"] = False
    (part / "progress.json").write_text(json.dumps(progress))
    resumed = run_translate(tcfg, part)
    assert resumed["lines_done"] == 10
    assert (part / "pairs.tsv").read_text() == (tmp_path / "whole/pairs.tsv").read_text()
    assert (part / "removed.tsv").read_text() == (tmp_path / "whole/removed.tsv").read_text()

    # the output feeds xling.parallel (and so tlm) through source.yaml's entry
    if n_out:
        data = load_parallel(ParallelConfig(sources=[ParallelSource(src=str(part / "pairs.tsv"), src_lang="kaz_Cyrl",
                                                                    tgt_lang="rus_Cyrl", format="tsv")],
                                            script_check=False, max_length_ratio=100.0))
        assert sum(data.sizes().values()) >= 1
    import yaml

    from xling.core.config import from_dict

    entry = from_dict(ParallelSource, yaml.safe_load((part / "source.yaml").read_text())[0], "source.yaml")
    assert (entry.format, entry.synthetic, entry.src_lang) == ("tsv", "tgt", "kaz_Cyrl")  # bt train: towards the original

    assert main(["bt", "score", "--model", str(model_dir), "--test", str(tmp_path / "bt/valid/kaz_Cyrl-rus_Cyrl.tsv"),
                 "--tgt-lang", "rus_Cyrl", "--beams", "1", "--out", str(tmp_path / "score")]) == 0
    assert {"bleu", "chrf", "chrf++"} <= set(read_json(tmp_path / "score/scores.json"))
    assert main(["bt", "score", "--model", str(model_dir), "--test", str(kk_ru_pairs), "--tgt-lang", "uig_Arab"]) == 2

    # no_repeat_ngram: a 4-step model loops; with the block no output repeats a piece bigram
    from xling.bt.model import load_model
    from xling.bt.translate import translate_texts

    model, tok = load_model(model_dir)
    texts = [s for s, _ in read_tsv(kk_ru_pairs)[:12]]

    def repeats(hyps: list[str]) -> int:
        n = 0
        for h in hyps:
            ids = tok(h, add_special_tokens=False)["input_ids"]
            grams = list(itertools.pairwise(ids))
            n += len(grams) - len(set(grams))
        return n

    assert repeats(translate_texts(model, tok, texts, "rus_Cyrl", beams=1)) > 0
    assert repeats(translate_texts(model, tok, texts, "rus_Cyrl", beams=1, no_repeat_ngram=2)) == 0
    assert main(["bt", "score", "--model", str(model_dir), "--test", str(kk_ru_pairs), "--tgt-lang", "rus_Cyrl",
                 "--beams", "1", "--limit", "4", "--no-repeat-ngram", "3", "--out", str(tmp_path / "nr")]) == 0
    assert read_json(tmp_path / "nr/scores.json")["no_repeat_ngram"] == 3
    with pytest.raises(InputError, match="no_repeat_ngram"):
        TranslateConfig(model=str(model_dir), no_repeat_ngram=1)

    # source_bias: an overwhelming bias leaves only the source's own pieces to write
    plain = translate_texts(model, tok, texts[:4], "rus_Cyrl", beams=2)
    copied = translate_texts(model, tok, texts[:4], "rus_Cyrl", beams=2, source_bias=1e4)
    assert any(not set(h.replace(" ", "")) <= set(t) for h, t in zip(plain, texts[:4], strict=True))
    assert all(h and set(h.replace(" ", "")) <= set(t) for h, t in zip(copied, texts[:4], strict=True))


def test_source_bias_processor_by_hand():
    import torch

    from xling.bt.translate import source_bias_processor

    pad, eos, tag = 1, 2, 9
    sources = torch.tensor([[tag, 5, 7, 5, eos], [tag, 6, eos, pad, pad]])
    proc = source_bias_processor(sources, 2.5, special_ids=[pad, eos, tag])
    scores = torch.zeros(4, 10)  # 2 rows × 2 beams, row-major as generate orders them
    out = proc(torch.zeros(4, 1, dtype=torch.long), scores)
    want = torch.zeros(4, 10)
    want[0:2, [5, 7]] = 2.5
    want[2:4, 6] = 2.5
    assert torch.equal(out, want)


def test_bt_precision_in_the_fingerprint_only_when_not_fp32(tiny_spm, kk_ru_pairs, tmp_path, caplog):
    from xling.bt.train import BTTrainConfig, bt_train_stage, train_bt
    from xling.core.config import from_dict

    base = {"tokenizer": str(tiny_spm),
            "parallel": {"sources": [{"src": str(kk_ru_pairs), "src_lang": "kaz_Cyrl", "tgt_lang": "rus_Cyrl"}]},
            "model": {"size": "tiny", "d_model": 32, "heads": 2, "ffn": 64, "max_len": 32},
            "steps": 2, "batch_size": 4, "warmup_steps": 1, "valid_pairs": 4, "eval_pairs": 2, "eval_beams": 1,
            "log_every": 1, "threads": 1}
    # runs recorded before `precision` existed trained in fp32: their fingerprint has no such key
    fp32 = bt_train_stage(from_dict(BTTrainConfig, {**base, "precision": "fp32"}), tmp_path / "a").spec.config
    bf16 = bt_train_stage(from_dict(BTTrainConfig, {**base, "precision": "bf16"}), tmp_path / "b").spec.config
    assert "precision" not in fp32 and bf16["precision"] == "bf16"
    caplog.set_level("INFO", logger="xling.bt.train")
    train_bt(from_dict(BTTrainConfig, {**base, "precision": "bf16"}), tmp_path / "bt")
    assert "precision bf16 (precision: bf16)" in caplog.text
    losses = [r["loss"] for r in read_jsonl(tmp_path / "bt/metrics.jsonl") if "loss" in r]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)


def test_translate_filters():
    from xling.bt.translate import OutputLanguageCheck, TranslateConfig, filter_pairs

    cfg = TranslateConfig(model="unused", max_length_ratio=2.0, lid="script", min_roundtrip_chrf=50.0)
    check = OutputLanguageCheck("rus_Cyrl", "script", 0.5)
    originals = ["Мен кітап оқимын.", "Қала үлкен.", "Біз үйге қайттық.", "Ол мектепке барады.", "Жақсы."]
    outputs = ["Я читаю книгу.", "", "We went home.", "Он идёт в школу.", "Хорошо очень очень очень очень."]
    back = ["Мен кітап оқимын.", "", "", "Басқа сөйлем мүлде.", ""]
    assert filter_pairs(originals, outputs, cfg, check, back) == [None, "empty_output", "wrong_language",
                                                                  "roundtrip_chrf", "length_ratio"]
