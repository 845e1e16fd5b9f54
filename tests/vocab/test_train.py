"""Training: sampling plan, outputs, determinism, resume, and clear errors on bad input."""

from __future__ import annotations

import pytest

from xling.core.io import read_json


@pytest.mark.slow
def test_train_outputs_and_args(trained_vocab):
    names = {p.name for p in trained_vocab.iterdir()}
    assert {"sentencepiece.bpe.model", "sentencepiece.bpe.vocab", "tokenizer.json", "tokenizer_config.json",
            "train_args.json", "config.yaml", "report.md", "stats.json", "stats.md",
            "stats_fertility.png"} <= names
    assert not [p for p in trained_vocab.parent.iterdir() if p.name.startswith(".tmp-")]
    ta = read_json(trained_vocab / "train_args.json")
    sp = ta["sentencepiece"]
    assert (sp["bos_id"], sp["pad_id"], sp["eos_id"], sp["unk_id"]) == (0, 1, 2, 3)
    assert sp["normalization_rule_name"] == "identity" and sp["byte_fallback"] is True
    assert sp["vocab_size"] == 2000 and sp["character_coverage"] == 0.9999
    plan = ta["sampling_plan"]
    assert plan["alpha"] == 0.3 and plan["unit"] == "lines"
    assert set(plan["languages"]) == {"kaz_Cyrl", "uig_Arab", "rus_Cyrl", "eng_Latn", "tur_Latn"}
    drawn = ta["sample"]["lines_per_lang"]
    assert abs(sum(drawn.values()) - 12000) <= 5
    # α = 0.3 flattens the mix: small ru/en/tr (1,000 lines each) are upsampled, kk/ug downsampled.
    assert plan["languages"]["eng_Latn"]["p_sampled"] > plan["languages"]["eng_Latn"]["p_natural"]
    assert plan["languages"]["uig_Arab"]["p_sampled"] < plan["languages"]["uig_Arab"]["p_natural"]
    report = (trained_vocab / "report.md").read_text(encoding="utf-8")
    assert "fertility" in report and "uig_Arab" in report


@pytest.mark.slow
def test_rerun_with_same_config_is_a_no_op(trained_vocab):
    from vocab.train import VocabTrainConfig, train_vocab
    from xling.core.config import load_config

    cfg = load_config(VocabTrainConfig, trained_vocab / "config.yaml")
    before = (trained_vocab / "sentencepiece.bpe.model").stat().st_mtime_ns
    assert train_vocab(cfg) == trained_vocab
    assert (trained_vocab / "sentencepiece.bpe.model").stat().st_mtime_ns == before


def test_sample_mix_is_deterministic_and_follows_plan(tmp_path, tiny_text):
    from vocab.train import sample_mix

    inputs = {lang: [p] for lang, p in tiny_text.items() if lang in ("kaz_Cyrl", "uig_Arab", "eng_Latn")}
    a = sample_mix(inputs, tmp_path / "a.txt", alpha=0.3, total=6000, seed=1)
    b = sample_mix(inputs, tmp_path / "b.txt", alpha=0.3, total=6000, seed=1)
    c = sample_mix(inputs, tmp_path / "c.txt", alpha=0.3, total=6000, seed=2)
    assert a.sha256 == b.sha256 and (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()
    assert a.sha256 != c.sha256
    lines = (tmp_path / "a.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == sum(a.drawn.values())
    for lang, plan in a.plan.languages.items():
        assert a.drawn[lang] == round(plan.p_sampled * 6000)
    # 6,000 lines from 3 × 1,500: every language is repeated (whole passes + a seeded remainder).
    kk = set(tiny_text["kaz_Cyrl"].read_text(encoding="utf-8").splitlines())
    assert sum(1 for ln in lines if ln in kk) == a.drawn["kaz_Cyrl"]


def test_empty_and_non_text_inputs_fail_clearly(tmp_path):
    from vocab.train import VocabTrainConfig, train_vocab

    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"kaz_Cyrl: no text in .*empty\.txt \(empty input\)"):
        train_vocab(VocabTrainConfig(inputs=[f"kaz_Cyrl={empty}"], out=str(tmp_path / "o1"), vocab_size=100))
    binary = tmp_path / "blob.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ValueError, match=r"blob\.txt: a binary file"):
        train_vocab(VocabTrainConfig(inputs=[f"kaz_Cyrl={binary}"], out=str(tmp_path / "o2"), vocab_size=100))
    fake_gz = tmp_path / "x.jsonl.gz"
    fake_gz.write_bytes(b"plain, not gzip")
    with pytest.raises(ValueError, match=r"x\.jsonl\.gz: cannot read"):
        train_vocab(VocabTrainConfig(inputs=[f"kaz_Cyrl={fake_gz}"], out=str(tmp_path / "o3"), vocab_size=100))
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        train_vocab(VocabTrainConfig(inputs=[f"kaz_Cyrl={tmp_path / 'missing.txt'}"], out=str(tmp_path / "o4")))
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_unknown_language_folder_fails_clearly(tmp_path):
    import gzip

    from vocab.train import VocabTrainConfig, train_vocab

    d = tmp_path / "corpus" / "kept" / "kazakh"
    d.mkdir(parents=True)
    with gzip.open(d / "0.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write('{"id": "1", "text": "сәлем", "lang": "kaz_Cyrl"}\n')
    with pytest.raises(ValueError, match="'kazakh' is not a language code like kaz_Cyrl"):
        train_vocab(VocabTrainConfig(inputs=[str(tmp_path / "corpus")], out=str(tmp_path / "o"), vocab_size=100))
    with pytest.raises(ValueError, match="'kazakh' is not a language code"):
        train_vocab(VocabTrainConfig(inputs=[f"kazakh={d / '0.jsonl.gz'}"], out=str(tmp_path / "o"), vocab_size=100))


def test_vocab_size_too_large_names_the_maximum(tmp_path, tiny_text):
    from vocab.train import VocabTrainConfig, train_vocab

    out = tmp_path / "big"
    cfg = VocabTrainConfig(inputs=[f"eng_Latn={tiny_text['eng_Latn']}"], out=str(out), vocab_size=200000)
    with pytest.raises(ValueError, match=r"--vocab-size 200000 is larger than the training text supports: "
                                         r"SentencePiece can build at most \d+ pieces"):
        train_vocab(cfg)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_config_validation():
    from vocab.train import VocabTrainConfig
    from xling.core.config import ConfigError, from_dict

    with pytest.raises(ConfigError, match="did you mean 'vocab_size'"):
        from_dict(VocabTrainConfig, {"vocab_szie": 10})
    with pytest.raises(ConfigError, match="alpha must be within"):
        from_dict(VocabTrainConfig, {"alpha": 2.0})
    with pytest.raises(ConfigError, match="model_type"):
        from_dict(VocabTrainConfig, {"model_type": "wordpiece"})


def test_identity_normalisation_keeps_text_and_nfkc_keeps_alphabets():
    """identity leaves Kazakh/Uyghur bytes alone; nmt_nfkc keeps every alphabet letter but rewrites
    compatibility characters and whitespace — why identity is our default (docs/vocab.md)."""
    import sentencepiece as spm

    from vocab.alphabets import alphabets

    ident = spm.SentencePieceNormalizer(rule_name="identity")
    nfkc = spm.SentencePieceNormalizer(rule_name="nmt_nfkc")
    for letters in alphabets().values():
        text = letters + letters.upper()
        assert ident.normalize(text).lstrip("▁") == text
        assert nfkc.normalize(text).lstrip("▁") == text
    assert ident.normalize("х\u00a0ы\tﻗ").lstrip("▁") == "х\u00a0ы\tﻗ"
    assert nfkc.normalize("х\u00a0ы\tﻗ").lstrip("▁") == "х▁ы▁ق"  # NBSP/tab → space, presentation form → letter
