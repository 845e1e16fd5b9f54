"""Fixtures for vocab tests: real kk/ug/ru/en/tr text (pretraining-safe sources) and one trained vocabulary."""

from __future__ import annotations

import gzip
import json

import pytest

SOURCES = {
    "kaz_Cyrl": "mono/kk/common_voice/sentence-collector.txt.xz",
    "uig_Arab": "mono/ug/common_voice/sentence-collector.txt.xz",
    "rus_Cyrl": "lid/lingua_testdata/sentences/ru.txt.xz",
    "eng_Latn": "lid/lingua_testdata/sentences/en.txt.xz",
    "tur_Latn": "lid/lingua_testdata/sentences/tr.txt.xz",
}
UG_BASE_LINES = 6000  # the base vocabulary sees these Uyghur lines
UG_HELDOUT_LINES = 2000  # the last lines, never used for training or extension


@pytest.fixture(scope="session")
def real_lines(data_root):
    """{lang: all non-empty lines} of the sources above, plus Kazakh gov-web text from apertium kaz-rus."""
    from xling.core.io import read_lines

    out = {lang: [ln.strip() for ln in read_lines(data_root / rel) if ln.strip()] for lang, rel in SOURCES.items()}
    gov = sorted((data_root / "parallel/kk-ru/apertium_kaz_rus_CORPUS").glob("*kaz*"))
    out["kaz_Cyrl_gov"] = [ln.strip() for f in gov[:6] for ln in read_lines(f) if ln.strip()][:3000]
    return out


@pytest.fixture(scope="session")
def corpus_dir(real_lines, tmp_path_factory):
    """A cleaned-corpus folder `ROOT/kept/<lang>/*.jsonl.gz` (kk: common voice + gov web; ug: base part)."""
    root = tmp_path_factory.mktemp("corpus")
    docs = {
        "kaz_Cyrl": real_lines["kaz_Cyrl"] + real_lines["kaz_Cyrl_gov"],
        "uig_Arab": real_lines["uig_Arab"][:UG_BASE_LINES],
    }
    for lang, lines in docs.items():
        d = root / "kept" / lang
        d.mkdir(parents=True)
        half = len(lines) // 2
        for i, part in enumerate([lines[:half], lines[half:]]):
            with gzip.open(d / f"{i:05d}.jsonl.gz", "wt", encoding="utf-8") as f:
                for j, text in enumerate(part):
                    f.write(json.dumps({"id": f"{lang}-{i}-{j}", "text": text, "lang": lang, "lang_score": 1.0,
                                        "source": "test"}, ensure_ascii=False) + "\n")
    return root


@pytest.fixture(scope="session")
def text_files(real_lines, tmp_path_factory):
    """{lang: plain .txt} for ru/en/tr, plus Uyghur extension text and held-out Uyghur text."""
    d = tmp_path_factory.mktemp("vocab_text")
    ug = real_lines["uig_Arab"]
    files = {
        "rus_Cyrl": real_lines["rus_Cyrl"], "eng_Latn": real_lines["eng_Latn"], "tur_Latn": real_lines["tur_Latn"],
        "uig_add": ug[: len(ug) - UG_HELDOUT_LINES], "uig_heldout": ug[len(ug) - UG_HELDOUT_LINES:],
    }
    out = {}
    for name, lines in files.items():
        p = d / f"{name}.txt"
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out[name] = p
    return out


@pytest.fixture(scope="session")
def trained_vocab(corpus_dir, text_files, tmp_path_factory):
    """A 2,000-piece unigram vocabulary with byte fallback, trained on kk+ug (corpus folder) + ru/en/tr files."""
    from vocab.train import VocabTrainConfig, train_vocab

    out = tmp_path_factory.mktemp("vocab") / "v2k"
    cfg = VocabTrainConfig(
        inputs=[str(corpus_dir)] + [f"{lang}={text_files[lang]}" for lang in ("rus_Cyrl", "eng_Latn", "tur_Latn")],
        out=str(out), vocab_size=2000, sample_sentences=12000, seed=7, byte_fallback=True, stats_lines=1000)
    train_vocab(cfg)
    return out
