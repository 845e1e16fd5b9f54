"""Adding a language is adding a profile file: Ossetian, which xling ships no profile for, goes through
clean → vocab extend (+ embedding initialisation) → a few continued-pretraining steps → evaluation with a
profile written here and `$XLING_LANG_PROFILES` pointing at it, no code edited.

The text is real: the Ossetian (Iron) and English UDHR translations from the data root's
`parallel/udhr/udhr_unicode_xml.tar.xz`. Articles with an even number are the corpus; the first
paragraphs of the odd articles, paired with the English ones, are the held-out retrieval set.

Why the profile matters, checked independently of our code by the letters themselves: fastText lid.176
labels most Ossetian paragraphs Russian (`ru`), yet Ossetian writes `ӕ` (U+04D5), which Russian's
alphabet does not have. Without a profile nothing knows that; with the profile's `lid.cyrillic` letters
the Cyrillic check gives those lines to Ossetian, so clean keeps them as `oss_Cyrl`.
"""

from __future__ import annotations

import re
import tarfile

import pytest

from xling.cli import main
from xling.core.io import read_json, read_jsonl, read_lines

PROFILE = """\
code: oss
iso639_1: os
name: Ossetian (Iron)
default_script: Cyrl
scripts:
  Cyrl: {alphabet: абвгдеёжзийклмнопрстуфхцчшщъыьэюяӕ}
lid:
  labels: {lid176: os, langid: null, glotlid: [oss_Cyrl]}
  cyrillic: {marks: ӕ, fallback_rank: 20}
notes: written by tests/test_new_language.py
"""
_ARTICLE_RE = re.compile(r'<article number="(\d+)">(.*?)</article>', re.S)
_PARA_RE = re.compile(r"<para>(.*?)</para>", re.S)


def _articles(xml: str) -> dict[int, list[str]]:
    return {int(n): [re.sub(r"\s+", " ", p).strip() for p in _PARA_RE.findall(body)]
            for n, body in _ARTICLE_RE.findall(xml)}


@pytest.fixture(scope="module")
def udhr(data_root):
    with tarfile.open(data_root / "parallel/udhr/udhr_unicode_xml.tar.xz") as tar:
        read = {code: tar.extractfile(f"udhr/udhr_{code}.xml").read().decode("utf-8") for code in ("oss", "eng")}
    return _articles(read["oss"]), _articles(read["eng"])


@pytest.fixture
def profile_dir(tmp_path, monkeypatch):
    d = tmp_path / "profiles"
    d.mkdir()
    (d / "oss.yaml").write_text(PROFILE, encoding="utf-8")
    monkeypatch.setenv("XLING_LANG_PROFILES", str(d))
    return d


def test_ossetian_has_no_shipped_profile_and_fasttext_calls_it_russian(udhr, monkeypatch):
    from corpora.lid import LanguageIdentifier
    from xling.core.langs import registry

    monkeypatch.delenv("XLING_LANG_PROFILES", raising=False)
    assert registry().find("oss") is None
    oss, _ = udhr
    paras = [p for n in sorted(oss) for p in oss[n]]
    labels = [LanguageIdentifier("fasttext").identify(p).lang for p in paras]
    with_ae = [lab for p, lab in zip(paras, labels, strict=True) if "ӕ" in p]
    assert len(with_ae) >= 40 and with_ae.count("rus_Cyrl") >= 0.7 * len(with_ae)


def test_bad_profile_names_file_and_key(tmp_path, monkeypatch):
    from xling.core.errors import InputError
    from xling.core.langs import registry

    d = tmp_path / "bad"
    d.mkdir()
    (d / "oss.yaml").write_text(PROFILE.replace("fallback_rank: 20", "fallback_rank: first"), encoding="utf-8")
    monkeypatch.setenv("XLING_LANG_PROFILES", str(d))
    with pytest.raises(InputError, match=r"oss\.yaml: lid\.cyrillic\.fallback_rank: expected an integer"):
        registry()


@pytest.mark.slow
def test_new_language_from_a_profile_file_end_to_end(udhr, profile_dir, tmp_path, tiny_spm, tiny_encoder,
                                                      capsys):
    from corpora.clean import CleanConfig, run_clean
    from eval_xtreme.runner import EvalConfig, run_eval
    from vocab.embeddings import resize_embeddings
    from vocab.extend import VocabExtendConfig, extend_vocab
    from xling.core.config import from_dict, load_config
    from xling.pretrain import PretrainConfig, pretrain

    oss, eng = udhr
    # `xling lang show` reads the user's profile
    assert main(["lang", "show", "oss"]) == 0
    shown = capsys.readouterr().out
    assert f"Ossetian (Iron) (oss, os)   profile: {profile_dir / 'oss.yaml'}" in shown
    assert "LID Cyrillic check: letters beyond Russian 'ӕ'" in shown

    # 1. clean: the even articles (and the preamble), one paragraph per line
    raw = tmp_path / "raw"
    raw.mkdir()
    corpus = [p for n in sorted(oss) if n % 2 == 0 for p in oss[n]]
    (raw / "oss.txt").write_text("\n".join(corpus) + "\n", encoding="utf-8")
    clean = run_clean(from_dict(CleanConfig, {"inputs": [str(raw)], "out": str(tmp_path / "clean"),
                                              "languages": ["oss_Cyrl"], "min_lang_score": 0.0,
                                              "quality": {"min_words": 3}}))
    kept = [d["text"] for f in sorted((clean / "kept" / "oss_Cyrl").glob("*.jsonl.gz")) for d in read_jsonl(f)]
    # every paragraph with ӕ is Ossetian by its letters: the profile's rule kept them all
    assert len(kept) >= sum("ӕ" in p for p in corpus if len(p.split()) >= 3) >= 10

    # 2. vocabulary extension + embedding initialisation of the new pieces
    ext = extend_vocab(VocabExtendConfig(base=str(tiny_spm), add=[f"oss_Cyrl={clean / 'kept' / 'oss_Cyrl'}"],
                                         new_pieces=40, out=str(tmp_path / "ext"), stats_lines=200,
                                         num_threads=1))
    stats = read_json(ext / "stats.json")
    cov = _find(stats, "oss_Cyrl")
    assert cov is not None and cov.get("alphabet_coverage") is not None  # from the profile's alphabet
    model = resize_embeddings(tiny_encoder, tiny_spm, ext, tmp_path / "init")

    # 3. a few steps of continued pretraining from the resized model
    text = tmp_path / "oss_corpus.txt"
    text.write_text("\n".join(kept) + "\n", encoding="utf-8")
    cfg = load_config(PretrainConfig, None, [], flags={
        "tokenizer": str(model), "seed": 0,
        "data": {"files": {"oss_Cyrl": str(text)}, "max_len": 32, "cache_dir": str(tmp_path / "shards"),
                 "eval_fraction": 0.1, "eval_max_docs": 4},
        "model": {"size": "tiny", "init_from": str(model)},
        "train": {"max_steps": 3, "global_batch_size": 2, "micro_batch_size": 2, "lr": 1e-3, "warmup_steps": 1,
                  "log_every": 1, "eval_every": 0, "eval_sequences": 2, "save_every": 3, "progress": False,
                  "report_to": [], "threads": 1, "precision": "fp32"}})
    final = pretrain(cfg, tmp_path / "pretrain")

    # 4. evaluation: held-out odd articles, Ossetian ↔ English sentence retrieval (a user task file)
    odd = [n for n in sorted(oss) if n % 2 == 1 and n in eng and oss[n] and eng[n]]
    (tmp_path / "udhr.os").write_text("\n".join(oss[n][0] for n in odd) + "\n", encoding="utf-8")
    (tmp_path / "udhr.en").write_text("\n".join(eng[n][0] for n in odd) + "\n", encoding="utf-8")
    (tmp_path / "tasks.yaml").write_text(
        "tasks:\n  - name: udhr_os_en\n    kind: retrieval\n    test:\n      os: {source: udhr.os, target: udhr.en}\n",
        encoding="utf-8")
    out = run_eval(from_dict(EvalConfig, {"model": str(final), "tasks": [], "task_file": str(tmp_path / "tasks.yaml"),
                                          "out": str(tmp_path / "eval"), "threads": 1,
                                          "retrieval": {"max_length": 32, "batch_size": 8}}))
    results = read_json(out / "results.json") if out.is_dir() else read_json(out)
    acc = _find(results, "udhr_os_en")
    assert acc is not None, results
    assert len(read_lines(tmp_path / "udhr.os")) == len(odd) >= 12


def _find(tree, key):
    """The value under `key` anywhere in a JSON tree."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        for v in tree.values():
            found = _find(v, key)
            if found is not None:
                return found
    elif isinstance(tree, list):
        for v in tree:
            found = _find(v, key)
            if found is not None:
                return found
    return None
