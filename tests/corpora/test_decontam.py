"""Decontamination: normalisation, evaluation files from eval_xtreme's registry read by its loaders,
planted Tatoeba/FLORES sentences, and real overlap (Uyghur Common Voice ∩ UD Uyghur-UDT)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from corpora.corpus import find_language_shards, iter_documents
from corpora.decontam import DecontamConfig, Decontaminate, EvalIndex, decontaminate_corpus
from corpora.normalize import normalize_text
from corpora.textkey import normalized_words
from eval_xtreme.loaders import data_file, read_texts
from eval_xtreme.tasks import TASKS, evaluation_files
from xling.core.io import open_text, read_json, read_jsonl, read_lines, write_jsonl_atomic
from xling.core.stage import StageError

pytestmark = pytest.mark.usefixtures("index_cache")  # decontamination indexes stay in tmp


def test_normalized_words():
    assert normalized_words("Бiлгiм келмейдi!") == normalized_words("Білгім келмейді.") == ["білгім", "келмейді"]
    assert normalized_words("Hello, WORLD — it's 2024.") == ["hello", "world", "it", "s", "2024"]
    assert normalized_words("ﺳﺎﻻﻡ") == normalized_words("سالام")  # Arabic presentation forms (NFKC)
    assert normalized_words("我爱北京") == ["我", "爱", "北", "京"]
    assert normalized_words("Windows iOS") == ["windows", "ios"]  # Latin words keep their i
    # the same look-alikes the clean step repairs (language profiles): Kazakh һ and ә typed in Latin
    assert normalized_words("Жиhаз мәселесi") == normalized_words("Жиһаз мəселесі") == ["жиһаз", "мәселесі"]
    assert normalized_words("Жиhаз") == normalize_text("Жиhаз").lower().split()  # the clean step agrees


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_index_matching_rules(tmp_path):
    long = "the quick brown fox jumps over the lazy dog while the farmer sleeps under an old oak tree"
    ev = _write(tmp_path / "eval.txt", [long, "Where is the station?", "Yes.", "Мен кітап оқимын бүгін кешке үйде."])
    index = EvalIndex.build({"toy": [data_file(ev)]}, ngram=13)
    # 13-gram inside other text, any punctuation/case
    assert index.match("Intro. THE quick, brown fox jumps over the lazy dog while the farmer sleeps! Outro") == ["toy"]
    # whole short sentence as its own sentence / line / document
    assert index.match("We got lost. Where is the station? Nobody knew.") == ["toy"]
    assert index.match("line one\nwhere is the station\nline three") == ["toy"]
    # suffix: evaluation sentence (≥5 words) glued after text without final punctuation
    assert index.match("Жаңалықтар мен кітап оқимын бүгін кешке үйде.") == ["toy"]
    # a whole unit written with other spaces (Uyghur-UDT re-spaces compounds: "خۇش خەتچىلەپ" ↔ "خۇشخەتچىلەپ")
    assert index.match("Intro here. Whereis the station? Outro.") == ["toy"]
    assert index.match("Where is the sta tion") == ["toy"]
    # short units do not match inside a longer sentence, and 1-word units are never indexed
    assert index.match("Tell me where is the station located today") == []
    assert index.match("Tell me whereis the station located today") == []
    assert index.match("Yes. Yes. Yes.") == []
    assert index.match("A completely unrelated sentence about rivers.") == []
    assert index.set_stats["toy"] == {"files": 1, "units": 4, "ngrams": 6, "whole_units": 3}


def test_evaluation_text_is_read_by_eval_xtreme_loaders(data_root):
    ud_path = data_root / "udpos/UD_Kazakh-KTB/kk_ktb-ud-test.conllu.xz"
    with open_text(ud_path) as f:
        n_sentences = sum(1 for line in f if line.startswith("# sent_id"))
    ud = list(read_texts(data_file(ud_path)))
    assert len(ud) == n_sentences == 1047 and all(ud)
    ner = list(read_texts(evaluation_files(data_root, ["kaznerd"])["kaznerd"][0]))
    assert len(ner) == 11167
    uner = list(read_texts(data_file(data_root / "ner/uner/UNER_English-PUD/en_pud-ud-test.iob2.xz")))
    assert len(uner) == 1000 and normalized_words(uner[0])[:5] == ["while", "much", "of", "the", "digital"]
    xq = list(read_texts(data_file(data_root / "xquad/xquad.ru.json.xz")))
    assert len(xq) == 240 + 1190  # contexts + questions, answers left out


def test_evaluation_files(data_root):
    found = evaluation_files(data_root)
    for name in ("tatoeba", "tatoeba_challenge", "ud", "flores200", "xwmt", "xquad", "kazqad", "kaznerd",
                 "pawsx", "xnli", "mlqa", "uner"):
        assert found.get(name), name
    assert "wmt_newstest" not in found  # only when asked for
    paths = [p for dfs in found.values() for df in dfs for p in df.paths]
    held_out = [p for name in ("tatoeba", "ud", "flores200", "xwmt") for df in found[name] for p in df.paths]
    assert len(held_out) == len(set(held_out))  # a held-out file is listed once
    assert not any("train" in p.name or "hf_dummy_fixtures" in p.parts for p in paths)
    assert {df.paths[0].name for df in found["flores200"]} == {"eng_Latn.dev", "uig_Arab.dev"}
    assert evaluation_files(data_root, ["wmt_newstest"])["wmt_newstest"]
    # Every real dev/test file any task evaluates on is among them.
    for _, task in TASKS.items():
        for split in ("dev", "test"):
            for lang in task.languages if split in task.files else ():
                if task.available(split, lang, data_root, allow_fixtures=False):
                    df = task.resolve(split, lang, data_root, allow_fixtures=False)
                    text_files = {p for p in df.paths if not p.name.endswith(".labels")}  # labels: no text
                    assert text_files <= set(paths), (task.name, split, lang)
    with pytest.raises(KeyError, match="Did you mean"):
        DecontamConfig(sets=["tatoba"])


def test_real_overlap_uyghur_common_voice_in_ud(data_root):
    """Uyghur Common Voice sentences that are UD Uyghur-UDT dev/test sentences must all be hits.

    The reference reads the raw `# text =` lines itself and compares their letters and digits only
    (NFKC, case-folded; every space and mark dropped, so a re-spaced copy is still a copy); the index
    reads UD through eval_xtreme's loader.
    """
    import re
    import unicodedata

    def letters(text: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())

    cv = [ln for ln in read_lines(data_root / "mono/ug/common_voice/sentence-collector.txt.xz") if ln.strip()]
    ud_sentences = set()
    for f in sorted((data_root / "udpos/UD_Uyghur-UDT").glob("ug_udt-ud-*.conllu*")):
        if "-train." in f.name:
            continue
        with open_text(f) as fh:
            ud_sentences |= {letters(m) for m in re.findall(r"^# text = (.*)$", fh.read(), re.M)}
    exact = {i for i, line in enumerate(cv) if letters(line) in ud_sentences}
    sources = {"udpos_turkic": [df for df in evaluation_files(data_root, ["udpos_turkic"])["udpos_turkic"]
                                if df.lang == "ug"]}
    index = EvalIndex.build(sources)
    hits = {i for i, m in enumerate(index.match_masks(cv).tolist()) if m}
    assert len(exact) == 782  # measured: 782 whole-sentence copies in the 11,279-line list (19 re-spaced)
    assert exact <= hits
    # The rest share a 13-gram or end with a UD sentence (889 before re-spaced units were matched).
    assert len(hits) == 908


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
    stats = read_json(out / "stats.json")
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


def test_output_decontaminated_by_the_former_matching_is_refused(planted, tmp_path, monkeypatch):
    # A folder decontaminated before re-spaced units were matched (stage version 1) holds evaluation
    # sentences the current matching removes: a re-run must say so, not skip it as finished.
    import corpora.decontam as dc

    root, _ = planted
    config = DecontamConfig(sets=["flores200"])
    monkeypatch.setattr(dc, "DECONTAM_VERSION", 1)
    out = decontaminate_corpus([root], tmp_path / "dc", config, progress=False)
    monkeypatch.setattr(dc, "DECONTAM_VERSION", 2)
    with pytest.raises(StageError, match=r"version stage: 1 → 2"):
        decontaminate_corpus([root], out, config, progress=False)
    decontaminate_corpus([root], out, config, overwrite=True, progress=False)
    assert read_json(out / "stage.json")["fingerprint_body"]["versions"]["stage"] == 2


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
    stats = read_json(out / "stats.json")
    assert len(stats["eval_sets"]) >= 12
    assert stats["eval_sets"]["ud"]["docs_hit"] > 0
    assert stats["languages"]["uig_Arab"]["hits"]["ud"] > 0


def test_without_data_root_uses_against_only(tmp_path, monkeypatch):
    from xling.core.paths import DataRootError

    monkeypatch.setenv("XLING_DATA", str(tmp_path / "missing"))
    ev = _write(tmp_path / "mine.txt", ["Бұл менің кітабым емес."])
    assert {n: [df.paths for df in dfs] for n, dfs in DecontamConfig(against=[str(ev)]).sources().items()} == {
        "mine.txt": [(ev,)]}
    with pytest.raises(DataRootError):
        DecontamConfig().sources()


def _mark_unfinished(folder):
    """What a kill before the end leaves: the stage record still says running."""
    rec = folder / "stage.json"
    rec.write_text(rec.read_text().replace('"status": "finished"', '"status": "running"'))
