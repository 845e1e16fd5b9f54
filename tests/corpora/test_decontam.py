"""Decontamination: normalisation, readers, evaluation-set discovery, planted Tatoeba/FLORES sentences."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from corpora.corpus import find_language_shards, iter_documents
from corpora.decontam import (
    DecontamConfig,
    Decontaminate,
    EvalIndex,
    decontaminate_corpus,
    discover_eval_sets,
    read_conllu,
    read_json,
    read_token_columns,
)
from corpora.stage_io import normalized_words
from xling.io import read_jsonl, read_lines, write_jsonl_atomic


@pytest.fixture(scope="module", autouse=True)
def index_cache(tmp_path_factory):
    """Keep the on-disk index cache inside the test's tmp folder."""
    old = os.environ.get("XLING_CACHE")
    os.environ["XLING_CACHE"] = str(tmp_path_factory.getbasetemp() / "xling_cache")  # shared by modules
    yield
    if old is None:
        os.environ.pop("XLING_CACHE", None)
    else:
        os.environ["XLING_CACHE"] = old


def test_normalized_words():
    assert normalized_words("Бiлгiм келмейдi!") == normalized_words("Білгім келмейді.") == ["білгім", "келмейді"]
    assert normalized_words("Hello, WORLD — it's 2024.") == ["hello", "world", "it", "s", "2024"]
    assert normalized_words("ﺳﺎﻻﻡ") == normalized_words("سالام")  # Arabic presentation forms (NFKC)
    assert normalized_words("我爱北京") == ["我", "爱", "北", "京"]
    assert normalized_words("Windows iOS") == ["windows", "ios"]  # Latin words keep their i


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_index_matching_rules(tmp_path):
    long = "the quick brown fox jumps over the lazy dog while the farmer sleeps under an old oak tree"
    ev = _write(tmp_path / "eval.txt", [long, "Where is the station?", "Yes.", "Мен кітап оқимын бүгін кешке үйде."])
    index = EvalIndex.build({"toy": [ev]}, ngram=13)
    # 13-gram inside other text, any punctuation/case
    assert index.match("Intro. THE quick, brown fox jumps over the lazy dog while the farmer sleeps! Outro") == ["toy"]
    # whole short sentence as its own sentence / line / document
    assert index.match("We got lost. Where is the station? Nobody knew.") == ["toy"]
    assert index.match("line one\nwhere is the station\nline three") == ["toy"]
    # suffix: evaluation sentence (≥5 words) glued after text without final punctuation
    assert index.match("Жаңалықтар мен кітап оқимын бүгін кешке үйде.") == ["toy"]
    # short units do not match inside a longer sentence, and 1-word units are never indexed
    assert index.match("Tell me where is the station located today") == []
    assert index.match("Yes. Yes. Yes.") == []
    assert index.match("A completely unrelated sentence about rivers.") == []
    assert index.set_stats["toy"] == {"files": 1, "units": 4, "ngrams": 6, "whole_units": 3}


def test_readers(data_root):
    ud = list(read_conllu(data_root / "udpos/UD_Kazakh-KTB/kk_ktb-ud-test.conllu.xz"))
    assert len(ud) == 1047 and all(ud)
    ner = list(read_token_columns(data_root / "ner/kaznerd/IOB2_valid.txt.xz"))
    assert len(ner) == 11167
    uner = list(read_token_columns(data_root / "ner/uner/UNER_English-PUD/en_pud-ud-test.iob2.xz"))
    assert len(uner) == 1000 and uner[0].startswith("“While much of the digital transition")
    xq = list(read_json(data_root / "xquad/xquad.ru.json.xz"))
    assert len(xq) == 240 + 1190  # contexts + questions, answers left out


def test_discover_eval_sets(data_root):
    found = discover_eval_sets(data_root)
    for name in ("tatoeba", "tatoeba_challenge", "ud", "flores200", "xwmt", "xquad", "kazqad", "kaznerd",
                 "pawsx", "xnli", "mlqa", "tydiqa", "uner"):
        assert found.get(name), name
    assert "wmt_newstest" not in found  # only when asked for
    assert not any("train" in f.name for f in found["ud"])
    assert {f.name for f in found["flores200"]} == {"eng_Latn.dev", "uig_Arab.dev"}
    assert discover_eval_sets(data_root, ["wmt_newstest"])["wmt_newstest"]
    with pytest.raises(KeyError, match="Did you mean"):
        DecontamConfig(sets=["tatoba"])


def _perturb(s: str, i: int) -> str:
    """Surface changes that decontamination must see through."""
    if i % 3 == 1:
        return s.upper()
    if i % 3 == 2:
        return s.replace("і", "i").replace("?", " ?").replace(",", "")
    return s


@pytest.fixture(scope="module")
def planted(data_root, tmp_path_factory):
    """Real ug/kk/en documents, a quarter of them with a Tatoeba or FLORES sentence planted in."""
    rng = random.Random(0)
    ug = [ln for ln in read_lines(data_root / "mono/ug/common_voice/sentence-collector.txt.xz") if ln.strip()]
    kk = [ln for ln in read_lines(data_root / "parallel/kk-ru/apertium_kaz_rus_CORPUS/afn-kaz-1550.xz")
          if len(ln.split()) >= 5]
    en = [ln for ln in read_lines(data_root / "lid/lingua_testdata/sentences/en.txt.xz") if ln.strip()]
    base = {"uig_Arab": [" ".join(ug[i:i + 3]) for i in range(0, 1200, 3)],
            "kaz_Cyrl": [" ".join(kk[i:i + 2]) for i in range(0, 800, 2)],
            "eng_Latn": [" ".join(en[i:i + 3]) for i in range(0, 900, 3)]}
    evals = {"uig_Arab": [("tatoeba", "tatoeba/tatoeba.uig-eng.uig"),
                          ("flores200", "parallel/en-ug/flores200/dev/uig_Arab.dev")],
             "kaz_Cyrl": [("tatoeba", "tatoeba/tatoeba.kaz-eng.kaz")],
             "eng_Latn": [("tatoeba", "tatoeba/tatoeba.kaz-eng.eng"),
                          ("flores200", "parallel/en-ug/flores200/dev/eng_Latn.dev")]}
    rows: dict[str, list[dict]] = {}
    plants: dict[str, tuple[str, str, bool]] = {}
    for lang, docs in base.items():
        sentences = [(name, s) for name, rel in evals[lang] for s in read_lines(data_root / rel) if s.strip()]
        rows[lang] = []
        for i, text in enumerate(docs):
            if i % 4 == 0:
                name, sent = rng.choice(sentences)
                sent = _perturb(sent, i // 4)
                mode = (i // 4) % 3
                words = normalized_words(sent)
                whole_ok = len(words) >= 3 or sum(map(len, words)) >= 12  # whole-sentence rule
                suffix_ok = len(words) >= 3 and sum(map(len, words)) >= 15  # glued-suffix rule
                if mode == 0:
                    text, ok = f"{text}\n{sent}", whole_ok
                elif mode == 1 and sent.rstrip()[-1:] in ".!?؟":
                    text, ok = f"{sent} {text}", whole_ok
                else:  # glued after the text: a sentence of its own only if the text ends a sentence
                    ok = suffix_ok or (whole_ok and text.rstrip()[-1:] in ".!?؟")
                    text = f"{text} {sent}"
                plants[f"{lang}-{i}"] = (name, sent, ok)
            rows[lang].append({"id": f"{lang}-{i}", "text": text, "lang": lang, "lang_score": 1.0, "source": "test"})
    root = tmp_path_factory.mktemp("planted")
    for lang, r in rows.items():
        write_jsonl_atomic(root / "kept" / lang / "00000.jsonl.gz", r)
    return root, plants


def test_no_planted_sentence_survives(planted, tmp_path):
    root, plants = planted
    config = DecontamConfig(sets=["tatoeba", "flores200"])
    out = decontaminate_corpus([root], tmp_path / "dc", config, progress=False)
    kept_ids = {d["id"] for files in find_language_shards(out).values() for d in iter_documents(files)}
    removed = {r["id"]: r for p in (out / "removed").glob("*.jsonl.gz") for r in read_jsonl(p)}
    # The documented thresholds (whole sentence: ≥3 words or ≥12 letters; glued suffix: ≥3 and ≥15) leave
    # only very short evaluation lines such as "Tom left." glued into another sentence unmatched.
    matchable = {i: (n, s) for i, (n, s, ok) in plants.items() if ok}
    assert len(matchable) >= 0.9 * len(plants)
    survivors = [(i, s) for i, (_, s) in matchable.items() if i in kept_ids]
    assert not survivors, survivors[:5]
    for i, (name, _) in matchable.items():
        assert name in removed[i]["contaminated_by"] and removed[i]["reason"] == "contaminated"
    false_pos = [i for i in removed if i not in plants]
    n_docs = sum(1 for _ in kept_ids) + len(removed)
    assert len(false_pos) <= 0.02 * n_docs, [removed[i]["text"][:80] for i in false_pos[:5]]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["eval_sets"]["tatoeba"]["docs_hit"] >= sum(1 for n, _ in matchable.values() if n == "tatoeba")
    assert stats["eval_sets"]["flores200"]["docs_hit"] >= sum(1 for n, _ in matchable.values() if n == "flores200")
    report = (out / "report.md").read_text()
    assert "| tatoeba |" in report and "| flores200 |" in report


def test_decontaminate_deterministic_and_resumes(planted, tmp_path):
    root, _ = planted
    config = DecontamConfig(sets=["flores200"])
    a = decontaminate_corpus([root], tmp_path / "a", config, progress=False)
    b = decontaminate_corpus([root], tmp_path / "b", config, progress=False)
    (b / ".done" / "eng_Latn.json").unlink()
    _mark_unfinished(b)
    decontaminate_corpus([root], b, config, progress=False)

    def tree(p: Path) -> dict[str, bytes]:
        return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*.jsonl.gz"))}

    assert tree(a) == tree(b) and sum(k.startswith("kept/") for k in tree(a)) == 3


def test_datatrove_step(tmp_path):
    from datatrove.data import Document

    ev = _write(tmp_path / "tatoeba.txt", ["Бұл менің кітабым емес.", "Where is the station?"])
    step = Decontaminate(against=[str(ev)], ngram=13, auto=False)
    docs = [Document(text="Сәлем. Бұл менің кітабым емес. Сау бол.", id="a"),
            Document(text="Nothing to see here, friend.", id="b"),
            Document(text="Excuse me, where is the station?", id="c")]
    kept = list(step.run(iter(docs)))
    assert [d.id for d in kept] == ["b"]
    assert docs[0].metadata["contaminated_by"] == ["tatoeba.txt"]
    assert dict(step.hits) == {"tatoeba.txt": 2}  # c: the sentence ends with an evaluation sentence


def test_decontaminate_cli(planted, tmp_path, capsys):
    import argparse

    from corpora.cli import register

    root, _ = planted
    ev = _write(tmp_path / "heldout.txt", ["a sentence that appears nowhere in the corpus at all, surely"])
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["corpora", "decontaminate", str(root), "--out", str(tmp_path / "o"), "--against",
                              str(ev), "--sets", "flores200"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "heldout.txt: 1 units, 0 documents hit" in printed and "flores200" in printed
    with pytest.raises(FileNotFoundError, match="no such file"):
        DecontamConfig(against=[str(tmp_path / "missing.txt")]).sources()


@pytest.mark.slow
def test_default_sets_on_real_corpus(planted, tmp_path):
    """All default evaluation sets: the Uyghur Common Voice list shares sentences with UD Uyghur."""
    root, _plants = planted
    out = decontaminate_corpus([root], tmp_path / "all", DecontamConfig(), progress=False)
    stats = json.loads((out / "stats.json").read_text())
    assert len(stats["eval_sets"]) >= 12
    assert stats["eval_sets"]["ud"]["docs_hit"] > 0
    assert stats["languages"]["uig_Arab"]["hits"]["ud"] > 0


def test_without_data_root_uses_against_only(tmp_path, monkeypatch):
    from xling.paths import DataRootError

    monkeypatch.setenv("XLING_DATA", str(tmp_path / "missing"))
    ev = _write(tmp_path / "mine.txt", ["Бұл менің кітабым емес."])
    assert DecontamConfig(against=[str(ev)]).sources() == {"mine.txt": [ev]}
    with pytest.raises(DataRootError):
        DecontamConfig().sources()


def _mark_unfinished(folder):
    """What a kill before the end leaves: the stage record still says running."""
    rec = folder / "stage.json"
    rec.write_text(rec.read_text().replace('"status": "finished"', '"status": "running"'))
