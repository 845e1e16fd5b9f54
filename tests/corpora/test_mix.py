"""Temperature-sampled mixing on a real multilingual corpus: plan numbers, caps, sampling, determinism."""

from __future__ import annotations

import argparse
import shutil
from collections import Counter
from pathlib import Path

import pytest

from corpora.corpus import find_language_shards, iter_documents
from corpora.mix import MixConfig, mix_corpus, parse_schedule
from corpora.sampling import (
    AlphaSchedule,
    LanguageSampler,
    plan_from_json,
    sample_languages,
    sampling_plan,
    temperature_probs,
)
from xling.core.config import ConfigError, load_config
from xling.core.io import read_json, read_lines, write_jsonl_atomic

# Languages of very different sizes (characters): ug ≫ kk ≈ ru ≫ en.
SOURCES = {
    "uig_Arab": (["mono/ug/common_voice/sentence-collector.txt.xz"], 3000),
    "kaz_Cyrl": (["parallel/kk-ru/apertium_kaz_rus_CORPUS/knb-kaz-1010.xz",
                  "parallel/kk-ru/apertium_kaz_rus_CORPUS/election-kaz-660.xz"], 900),
    "rus_Cyrl": (["parallel/kk-ru/apertium_kaz_rus_CORPUS/knb-ru.xz"], 400),
    "eng_Latn": (["lid/lingua_testdata/sentences/en.txt.xz"], 60),
}


@pytest.fixture(scope="module")
def corpus(data_root, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    for lang, (rels, n) in SOURCES.items():
        lines = [ln.strip() for rel in rels for ln in read_lines(data_root / rel) if ln.strip()][:n]
        rows = [{"id": f"{lang}-{i}", "text": t, "lang": lang, "lang_score": 1.0, "source": "test"}
                for i, t in enumerate(lines)]
        write_jsonl_atomic(root / "kept" / lang / "00000.jsonl.gz", rows)
    return root


def _sizes(root: Path, unit: str) -> dict[str, float]:
    out = {}
    for lang, files in find_language_shards(root).items():
        texts = [d["text"] for d in iter_documents(files)]
        out[lang] = float({"chars": sum(map(len, texts)), "docs": len(texts),
                           "tokens": sum(len(t.split()) for t in texts)}[unit])
    return out


def _written(mix: Path, unit: str) -> dict[str, float]:
    return _sizes(mix, unit)


def test_plan_matches_formula(corpus, tmp_path):
    mix = mix_corpus([corpus], tmp_path / "mix", MixConfig(alpha=0.3, unit="chars", seed=1), progress=False)
    plan = read_json(mix / "plan.json")
    assert {"alpha", "unit", "languages"} <= set(plan) and plan["alpha"] == 0.3 and plan["unit"] == "chars"
    sizes = _sizes(corpus, "chars")
    assert min(sizes.values()) * 25 < max(sizes.values())  # really different sizes
    z = sum(n**0.3 for n in sizes.values())
    total = sum(sizes.values())
    for lang, n in sizes.items():
        lp = plan["languages"][lang]
        assert set(lp) == {"size", "p_natural", "p_sampled", "repeats"}
        assert lp["size"] == n
        assert lp["p_natural"] == pytest.approx(n / total)
        assert lp["p_sampled"] == pytest.approx(n**0.3 / z, rel=1e-12)
        assert lp["repeats"] == pytest.approx(lp["p_sampled"] * total / n)
    # The smallest language gains share, the largest loses it.
    assert plan["languages"]["eng_Latn"]["p_sampled"] > 5 * plan["languages"]["eng_Latn"]["p_natural"]
    assert plan["languages"]["uig_Arab"]["p_sampled"] < plan["languages"]["uig_Arab"]["p_natural"]
    # What was written matches the plan to within one document per language.
    written = _written(mix, "chars")
    longest = {lang: max(len(d["text"]) for d in iter_documents(f)) for lang, f in find_language_shards(corpus).items()}
    for lang, lp in plan["languages"].items():
        assert abs(written[lang] - lp["p_sampled"] * plan["total"]) <= longest[lang]
    docs = list(iter_documents(find_language_shards(mix)["eng_Latn"]))
    assert max(d["repeat"] for d in docs) == int(plan["languages"]["eng_Latn"]["repeats"])
    assert (mix / "report.md").is_file() and (mix / "shares.png").stat().st_size > 1000
    assert "p_sampled" in (mix / "report.md").read_text()


def test_repeat_cap_redistributes(corpus, tmp_path):
    mix = mix_corpus([corpus], tmp_path / "mix", MixConfig(alpha=0.3, max_repeats=2.0), progress=False)
    plan = read_json(mix / "plan.json")
    langs = plan["languages"]
    assert sum(lp["p_sampled"] for lp in langs.values()) == pytest.approx(1.0)
    assert langs["eng_Latn"]["repeats"] == pytest.approx(2.0)  # the cap binds on the smallest language
    assert all(lp["repeats"] <= 2.0 + 1e-9 for lp in langs.values())
    free = {k: v for k, v in langs.items() if v["repeats"] < 2.0 - 1e-9}
    sizes = _sizes(corpus, "chars")
    free_mass = 1.0 - sum(v["p_sampled"] for k, v in langs.items() if k not in free)
    z = sum(sizes[k] ** 0.3 for k in free)
    for k in free:  # the capped mass goes to the others in proportion to n^α
        assert langs[k]["p_sampled"] == pytest.approx(free_mass * sizes[k] ** 0.3 / z)


@pytest.mark.parametrize("unit", ["docs", "tokens"])
def test_units(corpus, tmp_path, unit):
    mix = mix_corpus([corpus], tmp_path / unit, MixConfig(alpha=0.5, unit=unit, total=5000), progress=False)
    plan = read_json(mix / "plan.json")
    assert {k: v["size"] for k, v in plan["languages"].items()} == _sizes(corpus, unit)
    assert plan["total"] == 5000
    if unit == "docs":
        for lang, n in _written(mix, "docs").items():
            assert abs(n - plan["languages"][lang]["p_sampled"] * 5000) <= 1


@pytest.mark.slow  # trains the shared tiny SentencePiece model and imports transformers
def test_subword_token_unit(corpus, tmp_path, tiny_spm):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(tiny_spm / "sentencepiece.bpe.model"))
    expected = {lang: float(sum(len(ids) for ids in sp.encode([d["text"] for d in iter_documents(f)])))
                for lang, f in find_language_shards(corpus).items()}
    for tok in (tiny_spm / "sentencepiece.bpe.model", tiny_spm):  # SentencePiece file, HF folder
        mix = mix_corpus([corpus], tmp_path / tok.name, MixConfig(unit="tokens", tokenizer=str(tok)), progress=False)
        plan = read_json(mix / "plan.json")
        sizes = {k: v["size"] for k, v in plan["languages"].items()}
        assert sizes == pytest.approx(expected, rel=0.02)  # HF adds no specials; pieces agree ≥98 %
    with pytest.raises(ValueError, match="only used with unit=tokens"):
        MixConfig(unit="chars", tokenizer="x.model")


def _tree(p: Path) -> dict[str, bytes]:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()
            and f.suffix in (".gz", ".json") and f.parent.name != ".done" and f.name != "stage.json"}


def test_deterministic_and_resumes(corpus, tmp_path):
    cfg = MixConfig(alpha=0.3, max_repeats=5, seed=7)
    a = mix_corpus([corpus], tmp_path / "a", cfg, progress=False)
    b = mix_corpus([corpus], tmp_path / "b", cfg, progress=False)
    assert _tree(a) == _tree(b)
    c = mix_corpus([corpus], tmp_path / "c", MixConfig(alpha=0.3, max_repeats=5, seed=8), progress=False)
    assert _tree(a)["eng_Latn/00000.jsonl.gz"] != _tree(c)["eng_Latn/00000.jsonl.gz"]
    # Killed while writing kaz_Cyrl: no marker, folder gone → the re-run writes exactly it.
    shutil.rmtree(b / "kaz_Cyrl")
    (b / ".done" / "kaz_Cyrl.json").unlink()
    _mark_unfinished(b)
    before = (b / "uig_Arab" / "00000.jsonl.gz").stat().st_mtime_ns
    mix_corpus([corpus], b, cfg, progress=False)
    assert _tree(a) == _tree(b)
    assert (b / "uig_Arab" / "00000.jsonl.gz").stat().st_mtime_ns == before
    ids = Counter((d["id"], d["repeat"]) for d in iter_documents(find_language_shards(b)["kaz_Cyrl"]))
    assert max(ids.values()) == 1  # no document copy written twice
    with pytest.raises(ValueError, match="other settings"):
        mix_corpus([corpus], b, MixConfig(alpha=0.7), progress=False)


def test_sample_languages_is_a_deterministic_stream():
    p = {"uig_Arab": 0.2, "kaz_Cyrl": 0.3, "eng_Latn": 0.5}
    full = sample_languages(p, 20_000, seed=3)
    assert full == sample_languages(p, 20_000, seed=3)
    assert full == sample_languages(p, 5000, 3) + sample_languages(p, 15_000, 3, start=5000)
    assert full[4090:4100] == sample_languages(p, 10, 3, start=4090)  # across a block boundary
    assert full == sample_languages(dict(reversed(list(p.items()))), 20_000, seed=3)  # dict order irrelevant
    assert full != sample_languages(p, 20_000, seed=4)
    counts = Counter(full)
    for lang, q in p.items():  # 5 standard deviations
        assert abs(counts[lang] - q * 20_000) < 5 * (20_000 * q * (1 - q)) ** 0.5
    with pytest.raises(ValueError):
        sample_languages({"a": 0.0}, 3, 0)


def test_language_sampler_follows_schedule_and_plan(corpus, tmp_path):
    sizes = _sizes(corpus, "chars")
    sampler = LanguageSampler(sizes, total_steps=100, schedule=AlphaSchedule([(0.0, 0.7), (1.0, 0.3)], anneal=True),
                              seed=1)
    assert sampler.probabilities(0) == pytest.approx(temperature_probs(sizes, 0.7))
    assert sampler.probabilities(50) == pytest.approx(temperature_probs(sizes, 0.5))
    assert sampler.probabilities(100) == pytest.approx(temperature_probs(sizes, 0.3))
    assert sampler.languages(10, 32) == sampler.languages(10, 32) and len(sampler.languages(10, 32)) == 32
    # The plan the mix wrote is the plan pretraining reconstructs.
    mix = mix_corpus([corpus], tmp_path / "mix", MixConfig(alpha=0.3, schedule=[(0.0, 0.7), (1.0, 0.3)]),
                     progress=False)
    data = read_json(mix / "plan.json")
    assert plan_from_json(data) == sampling_plan(sizes, 0.3)
    points = {p["progress"]: p for p in data["schedule"]["points"]}
    assert points[0.5]["alpha"] == pytest.approx(0.5)
    assert points[0.5]["p_sampled"] == pytest.approx(sampler.probabilities(50))
    assert (mix / "schedule.png").is_file()


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="alpha"):
        MixConfig(alpha=1.5)
    with pytest.raises(ValueError, match="phase starts"):
        MixConfig(schedule=[(0.5, 0.7), (1.0, 0.3)])
    assert parse_schedule("0:0.7,1:0.3") == [(0.0, 0.7), (1.0, 0.3)]
    with pytest.raises(ValueError, match="START:ALPHA"):
        parse_schedule("0.7,0.3")
    p = tmp_path / "mix.yaml"
    p.write_text("alpha: 0.3\nunits: docs\n")
    with pytest.raises(ConfigError, match="did you mean 'unit'"):
        load_config(MixConfig, p)


def test_mix_cli(corpus, tmp_path, capsys):
    from corpora.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "MIX"
    args = parser.parse_args(["corpora", "mix", str(corpus), "--alpha", "0.3", "--out", str(out), "--unit", "docs",
                              "--max-repeats", "3", "--seed", "2", "--alpha-schedule", "0:0.7,1:0.3"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "p_sampled" in printed and str(out) in printed
    plan = read_json(out / "plan.json")
    assert plan["unit"] == "docs" and plan["max_repeats"] == 3 and plan["seed"] == 2
    assert set(find_language_shards(out)) == set(SOURCES)
    args = parser.parse_args(["corpora", "mix", str(corpus), "--out", str(tmp_path / "two"),
                              "--languages", "uig_Arab", "kaz_Cyrl"])
    assert args.func(args) == 0
    assert set(read_json(tmp_path / "two" / "plan.json")["languages"]) == {"uig_Arab", "kaz_Cyrl"}
    with pytest.raises(ValueError, match="tat_Cyrl not found"):
        mix_corpus([corpus], tmp_path / "x", MixConfig(languages=["tat_Cyrl"]), progress=False)


def _mark_unfinished(folder):
    """What a kill before the end leaves: the stage record still says running."""
    rec = folder / "stage.json"
    rec.write_text(rec.read_text().replace('"status": "finished"', '"status": "running"'))
