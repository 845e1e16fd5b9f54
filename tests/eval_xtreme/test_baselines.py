"""No-model baselines: char n-gram TF-IDF against scikit-learn, the most-frequent-tag tagger by hand,
and the rows they add to an evaluation's results.json and report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval_xtreme.baselines import (
    CHAR_NGRAM,
    HYBRID,
    MFT,
    MFT_TURKIC,
    CharNgramTfidf,
    MostFrequentTagTagger,
    char_ngram_search,
    evaluate_baselines,
    hybrid_search,
)
from eval_xtreme.loaders import TaggedSentence, load_split
from eval_xtreme.tasks import get_task
from xling.core.io import read_json

SAMPLE = ["Мен  кітап оқимын.", "I read a book.", "Ол мектепке барады", "She goes to school",
          "Я читаю книгу.", "Kitap okuyorum", "", "ئۇ مەكتەپكە بارىدۇ"]


def test_tfidf_matches_scikit_learn():
    sk = pytest.importorskip("sklearn.feature_extraction.text")
    ref = sk.TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    expected = ref.fit_transform(SAMPLE).toarray()
    ours = CharNgramTfidf(1, 3).fit(SAMPLE)
    got = ours.transform(SAMPLE).toarray()
    # Same n-gram inventory, same weights column for column.
    assert sorted(ours.vocab) == sorted(ref.vocabulary_)
    cols = [ours.vocab[g] for g, _ in sorted(ref.vocabulary_.items(), key=lambda kv: kv[1])]
    np.testing.assert_allclose(got[:, cols], expected, atol=1e-12)


def _sklearn_top1(src: list[str], trg: list[str]) -> list[int]:
    sk = pytest.importorskip("sklearn.feature_extraction.text")
    v = sk.TfidfVectorizer(analyzer="char", ngram_range=(1, 3)).fit(src + trg)
    return list((v.transform(src) @ v.transform(trg).T).toarray().argmax(axis=1))


def test_char_ngram_search_on_real_xwmt_matches_scikit_learn(data_root):
    task = get_task("xwmt_en_kk")
    rs, _ = load_split(task, "test", "kk", data_root)
    src, trg = rs.source[:300], rs.target[:300]
    fwd, bwd = char_ngram_search(src, trg, both_directions=True)
    assert fwd == _sklearn_top1(src, trg)
    assert bwd == _sklearn_top1(trg, src)
    # Far above chance (1/300) on kk → en news: names and numbers are shared across scripts.
    assert np.mean(np.array(fwd) == np.arange(300)) > 0.15


def _hybrid_reference(src, trg, es, et, weight):
    """A second implementation of the fused search: scikit-learn's TF-IDF, cosines and z-scores in plain
    Python loops (statistics.pstdev: the population standard deviation over all candidates)."""
    import statistics

    sk = pytest.importorskip("sklearn.feature_extraction.text")
    v = sk.TfidfVectorizer(analyzer="char", ngram_range=(1, 3)).fit(src + trg)
    chars = (v.transform(src) @ v.transform(trg).T).toarray()

    def cos(a, b):
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

    def z(row):
        mu, sd = statistics.fmean(row), statistics.pstdev(row)
        return [(x - mu) / sd if sd > 0 else 0.0 for x in row]

    def search(q_emb, k_emb, char_rows):
        out = []
        for i, q in enumerate(q_emb):
            model = z([cos(q, k) for k in k_emb])
            char = z(list(char_rows[i]))
            fused = [weight * m + (1 - weight) * c for m, c in zip(model, char, strict=True)]
            out.append(max(range(len(fused)), key=lambda j: (fused[j], -j)))
        return out

    return search(es, et, chars), search(et, es, chars.T)


def test_hybrid_search_against_a_second_implementation_and_its_two_ends(data_root):
    from eval_xtreme.retrieval import nearest_neighbours

    task = get_task("xwmt_en_kk")
    rs, _ = load_split(task, "test", "kk", data_root)
    src, trg = rs.source[:60], rs.target[:60]
    rng = np.random.default_rng(0)
    # A noisy oracle: each translation pair shares a direction, plus noise that hides it for some pairs.
    common = rng.normal(size=(60, 16))
    es, et = common + 1.3 * rng.normal(size=(60, 16)), common + 1.3 * rng.normal(size=(60, 16))
    for w in (0.3, 0.7):
        got = hybrid_search(src, trg, es, et, w)
        fwd, bwd = _hybrid_reference(src, trg, es, et, w)
        assert got.xx_en == fwd and got.en_xx == bwd
    # weight 1: the model's own search; weight 0: the char-n-gram baseline's (z-scores keep each row's order)
    ones = hybrid_search(src, trg, es, et, 1.0)
    assert ones.xx_en == nearest_neighbours(es, et) and ones.en_xx == nearest_neighbours(et, es)
    zeros = hybrid_search(src, trg, es, et, 0.0)
    assert zeros.xx_en == _sklearn_top1(src, trg) and zeros.en_xx == _sklearn_top1(trg, src)
    # The two systems err on different pairs here, so together they beat both alone.
    acc = {w: np.mean(np.array(hybrid_search(src, trg, es, et, w).xx_en) == np.arange(60)) for w in (0.0, 0.5, 1.0)}
    assert acc[0.5] > max(acc[0.0], acc[1.0])
    with pytest.raises(ValueError, match="embeddings"):
        hybrid_search(src, trg, es[:59], et, 0.5)


def test_hybrid_weight_is_checked():
    from eval_xtreme.retrieval import RetrievalConfig

    with pytest.raises(ValueError, match=r"retrieval\.hybrid"):
        RetrievalConfig(hybrid=1.5)


def test_mft_tagger_by_hand():
    train = [(["The", "dog", "runs"], ["DET", "NOUN", "VERB"]),
             (["the", "runs", "walked"], ["DET", "NOUN", "VERB"]),
             (["dogs", "runs", "."], ["NOUN", "VERB", "PUNCT"])]
    t = MostFrequentTagTagger(max_suffix=4).fit(train)
    # Counts: DET 2, NOUN 3 (dog, runs, dogs), VERB 3 (runs ×2, walked), PUNCT 1.
    # runs → VERB (2 of 3); THE → unseen form, lowercased "the" → DET; cats → suffixes "cats", "ats",
    # "ts" unseen, "s" = VERB 2 (runs) / NOUN 2 (runs, dogs) → tie → NOUN; talked → "lked" (walked) → VERB;
    # xyz → no known suffix → global default, NOUN 3 / VERB 3 tie → NOUN.
    assert t.tag(["runs", "THE", "cats", "talked", "xyz", "."]) == ["VERB", "DET", "NOUN", "VERB", "NOUN", "PUNCT"]
    assert t.default == "NOUN"


def test_turkic_spelled_lookup_beside_a_tagger_that_spells_so():
    """`baseline:mft-turkic` exists only where the tagger's endings use the Turkic spelling, and reads
    Kazakh/Uyghur words in it: by hand, Kazakh үйлерде → üylerde ends in -erde like Turkish evlerde."""
    task = get_task("udpos_turkic_tr")
    train = [TaggedSentence("a", ["Evlerde", "kaldık", "."], ["NOUN", "VERB", "PUNCT"]),
             TaggedSentence("b", ["okullar", "güzel"], ["NOUN", "ADJ"]),
             TaggedSentence("c", ["geldik", "güzel", "güzel"], ["VERB", "ADJ", "ADJ"])]
    test = [TaggedSentence("k", ["үйлерде", "бардық", "."], ["NOUN", "VERB", "PUNCT"]),
            TaggedSentence("u", ["ئۆيلەردە", "باردۇق"], ["NOUN", "VERB"])]

    def run(spelling):
        return evaluate_baselines(task, ["kk"], lambda _: test, lambda: train, suffix_spelling=spelling)
    native, turkic = run("native"), run("turkic")
    assert MFT_TURKIC not in native and native[MFT] == turkic[MFT]
    # as written, only "." is known: every word is the global default ADJ (3 of 7 training words)
    assert native[MFT]["kk"]["accuracy"] == pytest.approx(100 * 1 / 5)
    # spelled: үйлерде → üylerde (-erde: NOUN), бардық → bardık (-dık: VERB), ئۆيلەردە → öylerde (NOUN),
    # باردۇق → ULY barduq → barduk: -rduk, -duk, -uk unseen, -k → VERB (kaldık, geldik)
    assert turkic[MFT_TURKIC]["kk"]["accuracy"] == pytest.approx(100.0)
    # in the Uyghur Latin view it reads the words as written, as the tagger's features do (ULY barduq
    # would end in an unseen -q and fall back to ADJ)
    from eval_xtreme.views import apply_view

    viewed = apply_view(task, "ug", test[1:], ["ug"])
    assert viewed[0].tokens == ["öylerde", "barduq"]
    spelled = evaluate_baselines(task, ["ug"], lambda _: viewed, lambda: train, suffix_spelling="turkic")
    assert spelled[MFT_TURKIC]["ug"]["accuracy"] == pytest.approx(100.0)
    assert spelled[MFT]["ug"]["accuracy"] == pytest.approx(50.0)  # the lookup as written: öylerde only


def test_mft_tie_is_broken_by_tag_name_not_data_order():
    a = MostFrequentTagTagger().fit([(["x"], ["NOUN"]), (["x"], ["ADJ"])])
    b = MostFrequentTagTagger().fit([(["x"], ["ADJ"]), (["x"], ["NOUN"])])
    assert a.tag(["x"]) == b.tag(["x"]) == ["ADJ"]


def test_mft_on_real_ud_scores_in_a_sane_range(data_root):
    from eval_xtreme.baselines import mft_scores, train_mft

    task = get_task("udpos_turkic")
    train, _ = load_split(task, "train", "en", data_root)
    tagger = train_mft(train[:3000])
    dev, _ = load_split(get_task("udpos"), "dev", "en", data_root)
    s = mft_scores(task, tagger, dev[:500], "en")
    # Most-frequent-tag on English is a classic ~85–92% baseline; zero-shot Kazakh is far lower.
    assert 80 < s["accuracy"] < 95
    kk, _ = load_split(task, "test", "kk", data_root)
    assert mft_scores(task, tagger, kk[:300], "kk")["accuracy"] < 50


def test_eval_run_writes_baseline_rows(tiny_encoder, tmp_path):
    from eval_xtreme.runner import EvalConfig, run_eval

    out = tmp_path / "out"
    results = run_eval(EvalConfig(model=str(tiny_encoder), tasks=["xwmt_en_kk"], out=str(out), threads=1))
    on_disk = read_json(out / "results.json")
    base = on_disk["baselines"][CHAR_NGRAM]["xwmt_en_kk"]["kk"]
    task = get_task("xwmt_en_kk")
    rs, _ = load_split(task, "test", "kk")
    expected = 100 * np.mean(np.array(_sklearn_top1(rs.source, rs.target)) == np.arange(len(rs.source)))
    assert base["accuracy"] == pytest.approx(expected)
    assert results["baselines"] == on_disk["baselines"] and MFT not in on_disk["baselines"]
    # per-query records beside the model's (same ids), predictions as scikit-learn's nearest neighbours
    recs = [json.loads(line) for line in
            (out / "baselines" / "char-ngram" / "predictions" / "xwmt_en_kk" / "kk.jsonl").read_text().splitlines()]
    model_ids = [json.loads(line)["id"] for line in
                 (out / "predictions" / "xwmt_en_kk" / "kk.jsonl").read_text().splitlines()]
    assert [r["id"] for r in recs] == model_ids
    assert [r["prediction"] for r in recs] == list(_sklearn_top1(rs.source, rs.target))
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## No-model baselines" in report and CHAR_NGRAM in report


def test_eval_run_with_hybrid_reports_the_model_fused_with_char_ngrams(tiny_encoder, tmp_path):
    from eval_xtreme.retrieval import Encoder, RetrievalConfig
    from eval_xtreme.runner import EvalConfig, _settings, run_eval

    out = tmp_path / "out"
    cfg = EvalConfig(model=str(tiny_encoder), tasks=["xwmt_en_kk"], out=str(out), threads=1,
                     max_eval_examples=80, retrieval=RetrievalConfig(hybrid=0.7))
    run_eval(cfg)
    on_disk = read_json(out / "results.json")
    got = on_disk["baselines"][HYBRID]["xwmt_en_kk"]["kk"]
    assert CHAR_NGRAM in on_disk["baselines"]
    rs, _ = load_split(get_task("xwmt_en_kk"), "test", "kk")
    rs = rs.first(80)
    enc = Encoder(str(tiny_encoder))
    fwd, _ = _hybrid_reference(rs.source, rs.target, enc(rs.source), enc(rs.target), 0.7)
    assert got["accuracy"] == pytest.approx(100 * np.mean(np.array(fwd) == np.array(rs.gold)))
    recs = [json.loads(line) for line in (out / "baselines" / "model+char-ngram" / "predictions" / "xwmt_en_kk"
                                          / "kk.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in recs] == fwd
    assert HYBRID in (out / "report.md").read_text(encoding="utf-8")
    # Off (the default), the setting is not recorded: tasks finished before it existed stay finished.
    assert "hybrid" not in _settings(EvalConfig(model="m"), get_task("xwmt_en_kk"))
    assert _settings(cfg, get_task("xwmt_en_kk"))["hybrid"] == 0.7


def test_run_report_shows_each_model_with_char_ngrams(tmp_path):
    from types import SimpleNamespace

    from xling.run_report import eval_section

    def write(folder, hits):
        (folder / "xwmt_en_kk").mkdir(parents=True, exist_ok=True)
        rows = [{"id": f"s{i}", "query": "source", "prediction": i if h else i + 1, "gold": i}
                for i, h in enumerate(hits)]
        for lang in ("kk", "tt"):  # a second language with the same records, for the mean row
            (folder / "xwmt_en_kk" / f"{lang}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    # char n-grams right on 2 of 10; control + chars on 1, studied + chars on 5
    fused = {"control": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0], "studied": [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]}
    for label in ("control", "studied"):
        folder = tmp_path / label
        data = {"model": label, "config": {"retrieval": {"hybrid": 0.7}},
                "tasks": {"xwmt_en_kk": {lg: {"accuracy": 10.0} for lg in ("kk", "tt")}},
                "details": {"xwmt_en_kk": {"data": {lg: {"fixture": False} for lg in ("kk", "tt")}}},
                "baselines": {CHAR_NGRAM: {"xwmt_en_kk": {lg: {"accuracy": 20.0} for lg in ("kk", "tt")}},
                              HYBRID: {"xwmt_en_kk": {lg: {"accuracy": 10.0 * sum(fused[label])}
                                                      for lg in ("kk", "tt")}}}}
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps(data), encoding="utf-8")
        write(folder / "baselines" / "char-ngram" / "predictions", [1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
        write(folder / "baselines" / "model+char-ngram" / "predictions", fused[label])
    plan = SimpleNamespace(evals={lb: SimpleNamespace(out=str(tmp_path / lb)) for lb in ("control", "studied")},
                           arms={"control": None, "studied": None})
    (tmp_path / "fig").mkdir()
    text = "\n".join(eval_section(plan, tmp_path / "fig"))
    assert "hybrid retrieval" in text and "weight 0.7" in text
    # the main table keeps its columns: the hybrid is not a no-model baseline
    assert f"Δ vs {HYBRID}" not in text
    part = text[text.index("hybrid retrieval"):]
    row = next(line for line in part.splitlines() if line.startswith("| xwmt_en_kk | kk "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:5] == ["20.00", "10.00", "50.00"]
    # studied + chars − chars = +30, − (control + chars) = +40, both paired over the same 10 queries
    assert cells[5].startswith("+30.00 [") and cells[6].startswith("+40.00 [")
    mean = next(line for line in part.splitlines() if line.startswith("| xwmt_en_kk | mean "))
    cells = [c.strip() for c in mean.strip("|").split("|")]
    assert cells[2:5] == ["20.00", "10.00", "50.00"] and cells[5].startswith("+30.00 [")


def test_run_report_shows_baselines_as_columns(tmp_path):
    from types import SimpleNamespace

    from xling.run_report import eval_section

    def results(acc: float) -> dict:
        return {"model": "m", "tasks": {"xwmt_en_kk": {"kk": {"accuracy": acc}}},
                "details": {"xwmt_en_kk": {"data": {"kk": {"fixture": False}}}},
                "baselines": {CHAR_NGRAM: {"xwmt_en_kk": {"kk": {"accuracy": 24.0}}}}}

    for label, acc in (("control", 10.0), ("studied", 30.0)):
        (tmp_path / label).mkdir()
        (tmp_path / label / "results.json").write_text(json.dumps(results(acc)), encoding="utf-8")
    plan = SimpleNamespace(evals={lb: SimpleNamespace(out=str(tmp_path / lb)) for lb in ("control", "studied")},
                           arms={"control": None, "studied": None})
    (tmp_path / "fig").mkdir()
    text = "\n".join(eval_section(plan, tmp_path / "fig"))
    row = next(line for line in text.splitlines() if line.startswith("| xwmt_en_kk | kk "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # studied 30 vs control 10 and vs the char-n-gram baseline 24: Δ = +20 and +6.
    assert f"Δ vs {CHAR_NGRAM}" in text and cells[3:6] == ["10.00", "30.00", "24.00"]
    # Neither side has intervals here, so the Δ cells are bare differences and say so.
    assert [c.split()[0] for c in cells[6:8]] == ["+20.00", "+6.00"] and all("no interval" in c for c in cells[6:8])
    # every link goes to a folder an evaluation writes: the models' reports, the baseline's records
    assert "[studied](eval/studied/report.md)" in text and f"(eval/{CHAR_NGRAM}/report.md)" not in text
    assert f"[{CHAR_NGRAM}](eval/control/baselines/char-ngram/predictions/)" in text

    # With per-example records (the studied model's and the baseline's, same ids) the Δ against the
    # baseline is a paired bootstrap: studied right on 3 of 10, baseline on 1 of 10 → +20 points.
    def write(folder, hits):
        (folder / "xwmt_en_kk").mkdir(parents=True, exist_ok=True)
        rows = [{"id": f"s{i}", "query": "source", "prediction": i if h else i + 1, "gold": i}
                for i, h in enumerate(hits)]
        (folder / "xwmt_en_kk" / "kk.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    write(tmp_path / "studied" / "predictions", [1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    # every evaluation folder holds the baseline records; the report reads the first model's
    write(tmp_path / "control" / "baselines" / "char-ngram" / "predictions", [1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    for label, acc in (("control", 10.0), ("studied", 30.0)):
        data = results(acc)
        data["baselines"][CHAR_NGRAM]["xwmt_en_kk"]["kk"]["accuracy"] = 10.0
        (tmp_path / label / "results.json").write_text(json.dumps(data), encoding="utf-8")
    text = "\n".join(eval_section(plan, tmp_path / "fig"))
    row = next(line for line in text.splitlines() if line.startswith("| xwmt_en_kk | kk "))
    cell = [c.strip() for c in row.strip("|").split("|")][7]
    assert cell.startswith("+20.00 [") and "no interval" not in cell and "from intervals" not in cell


def test_tatoeba_challenge_loader_filters_script_and_dedupes(tmp_path):
    from eval_xtreme.transfer_tasks import TC, tatoeba_challenge_task

    d = tmp_path / TC / "kaz-rus"
    d.mkdir(parents=True)
    (d / "tatoeba-test-v2021-08-07.kaz").write_text("Сәлем\nSalem\nСәлем\nРақмет\nКеш\n", encoding="utf-8")
    (d / "tatoeba-test-v2021-08-07.rus").write_text("Привет\nПривет\nЗдравствуй\nСпасибо\nСпасибо\n",
                                                     encoding="utf-8")
    (d / "tatoeba-test-v2021-08-07.kaz.labels").write_text(
        "kaz_Cyrl\nkaz_Latn\nkaz_Cyrl\nkaz_Cyrl\nkaz_Cyrl\n", encoding="utf-8")
    rs, _ = load_split(tatoeba_challenge_task(), "test", "kk-ru", tmp_path)
    # Line 2 is Latin script, line 3 repeats line 1's query; Кеш and Рақмет share one candidate.
    assert rs.source == ["Сәлем", "Рақмет", "Кеш"] and rs.source_ids == ["0", "3", "4"]
    assert rs.target == ["Привет", "Спасибо"] and rs.gold == [0, 1, 1]


def test_turkish_source_task_trains_and_develops_on_turkish(data_root):
    task = get_task("udpos_turkic_tr")
    assert task.train_lang == "tr" and not task.xtreme and get_task("udpos").train_lang == "en"
    train, df = load_split(task, "train", "tr", data_root)
    dev, ddf = load_split(task, "dev", "tr", data_root)
    assert df.paths[0].name.startswith("tr_imst-ud-train") and ddf.paths[0].name.startswith("tr_imst-ud-dev")
    assert len(train) == 3435 and len(dev) == 1100  # the MANIFEST's IMST sentence counts
    assert load_split(task, "test", "kk", data_root)[1].paths == load_split(get_task("udpos_turkic"), "test", "kk",
                                                                             data_root)[1].paths


def test_view_transliterates_test_data_and_baselines(data_root):
    from types import SimpleNamespace

    from eval_xtreme.baselines import baselines_for_task
    from eval_xtreme.views import apply_view
    from xling.translit import kk_cyrl_to_latn, uey_to_uly

    pos = get_task("udpos_turkic")
    ug, _ = load_split(pos, "test", "ug", data_root)
    viewed = apply_view(pos, "ug", ug[:20], ["ug"])
    assert [len(v.tokens) for v in viewed] == [len(x.tokens) for x in ug[:20]]
    assert viewed[0].tokens == [uey_to_uly(t) or t for t in ug[0].tokens] and viewed[0].tags == ug[0].tags
    assert apply_view(pos, "kk", ug[:2], ["ug"]) == ug[:2]  # kk is not in the view list
    tc = get_task("tatoeba_challenge")
    rs, _ = load_split(tc, "test", "kk-ru", data_root)
    v = apply_view(tc, "kk-ru", rs, ["kk"])
    assert v.source[0] == kk_cyrl_to_latn(rs.source[0]) and v.target == rs.target and v.gold == rs.gold
    with pytest.raises(ValueError, match="QA"):
        apply_view(get_task("kazqad"), "kk", [object()], ["kk"])
    # The baseline reads the same viewed text: on kk → ru the Latin view removes the shared script.
    cfg = SimpleNamespace(data_root=str(data_root), allow_fixtures=True, retrieval=SimpleNamespace(),
                          view=["kk"])
    plain = baselines_for_task(tc, {"kk-ru": {"examples": len(rs.source)}}, SimpleNamespace(**{**vars(cfg), "view": []}))
    latin = baselines_for_task(tc, {"kk-ru": {"examples": len(rs.source)}}, cfg)
    assert latin[CHAR_NGRAM]["kk-ru"]["accuracy"] < plain[CHAR_NGRAM]["kk-ru"]["accuracy"]
