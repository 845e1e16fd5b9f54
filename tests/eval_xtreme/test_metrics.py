"""Golden tests for eval_xtreme.metrics: every expected number below is computed by hand.

Edge cases follow the official scripts: SQuAD v1.1 (ASCII punctuation, English articles, empty
answers), MLQA (Unicode punctuation, per-language articles incl. the Arabic 'ال' quirk, Chinese
mixed segmentation), seqeval (I- without B-, boundaries, POS tags), BUCC (duplicates, empty
predictions), Tatoeba (XTREME's sorted English side) and the leaderboard aggregate.
"""

from __future__ import annotations

import random
import warnings

import pytest

from eval_xtreme import metrics as M


def approx(x: float) -> object:
    return pytest.approx(x, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# accuracy / retrieval


def test_accuracy_hand_computed() -> None:
    assert M.accuracy(["a", "b", "c"], ["a", "b", "d"]) == {"accuracy": approx(200 / 3)}
    assert M.accuracy([1, 0], [1, 0])["accuracy"] == 100.0


def test_accuracy_rejects_misaligned_or_empty() -> None:
    with pytest.raises(ValueError, match="2 predictions but 3 references"):
        M.accuracy(["a", "b"], ["a", "b", "c"])
    with pytest.raises(ValueError, match="no examples"):
        M.accuracy([], [])


def test_retrieval_accuracy() -> None:
    assert M.retrieval_accuracy([0, 2, 1, 3], [0, 1, 2, 3]) == {"accuracy": 50.0}


def test_tatoeba_sorted_english_side_duplicates_count_as_wrong() -> None:
    from eval_xtreme.loaders import sort_english_side

    english = ["b", "a", "c", "a"]
    sorted_en, gold = sort_english_side(english)
    # Stable sort: the 'a' of line 1 comes before the 'a' of line 3.
    assert sorted_en == ["a", "a", "b", "c"]
    assert gold == [2, 0, 3, 1]
    assert M.retrieval_accuracy(gold, gold)["accuracy"] == 100.0
    # Retrieving the *other* identical 'a' for source 3 is scored wrong, as in XTREME.
    assert M.retrieval_accuracy([2, 0, 3, 0], gold)["accuracy"] == 75.0


def test_tatoeba_real_kazakh_duplicates(data_root) -> None:
    """On the real LASER kaz-eng file: text-identical picks lose exactly the duplicate lines."""
    from eval_xtreme.loaders import sort_english_side
    from xling.io import read_lines

    english = [x.strip() for x in read_lines(data_root / "tatoeba" / "tatoeba.kaz-eng.eng")]
    assert len(english) == 575
    sorted_en, gold = sort_english_side(english)
    first_with_text = {}
    for pos, text in enumerate(sorted_en):
        first_with_text.setdefault(text, pos)
    by_text = [first_with_text[t] for t in english]
    n_not_first = sum(1 for i, t in enumerate(english) if gold[i] != first_with_text[t])
    assert n_not_first == len(english) - len(set(english))
    expected = 100.0 * (len(english) - n_not_first) / len(english)
    assert M.retrieval_accuracy(by_text, gold)["accuracy"] == approx(expected)


# ---------------------------------------------------------------------------------------------
# BUCC


def test_bucc_duplicates_and_hand_computed_f1() -> None:
    predicted = [("de-1", "en-1"), ("de-2", "en-2"), ("de-2", "en-2"), ("de-3", "en-9")]
    gold = {("de-1", "en-1"), ("de-2", "en-2"), ("de-4", "en-4"), ("de-5", "en-5")}
    # Duplicates count once: 3 predicted pairs, 2 correct, 4 gold.
    r = M.bucc_prf(set(predicted), gold)
    assert r["precision"] == approx(200 / 3)
    assert r["recall"] == approx(50.0)
    assert r["f1"] == approx(400 / 7)  # 2PR/(P+R) = (2/3)/(7/6) = 4/7


def test_bucc_empty_and_all_wrong_predictions_give_zero() -> None:
    gold = {("de-1", "en-1")}
    assert M.bucc_prf(set(), gold) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert M.bucc_prf({("de-1", "en-2")}, gold) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_bucc_best_threshold_is_midpoint_at_best_f1() -> None:
    scores = {("a", "x"): 0.9, ("b", "y"): 0.8, ("c", "z"): 0.7, ("d", "w"): 0.6}
    gold = {("a", "x"), ("c", "z"), ("e", "v")}
    # F1 after each candidate: 0.5, 0.4, 0.667 (best), 0.571 → midpoint of 0.7 and 0.6.
    assert M.bucc_best_threshold(scores, gold) == approx(0.65)
    assert M.bucc_best_threshold({("a", "q"): 0.5}, gold) == 0.0
    assert M.bucc_best_threshold({("a", "x"): 0.5}, gold) == 0.5  # best at the last candidate


# ---------------------------------------------------------------------------------------------
# seqeval / POS


def test_seqeval_i_without_b_opens_an_entity() -> None:
    assert M.seqeval_entities(["I-PER", "I-PER", "O"]) == [("PER", 0, 1)]
    r = M.seqeval_f1([["I-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    assert r == {"f1": 100.0, "precision": 100.0, "recall": 100.0}


def test_seqeval_boundaries_and_type_changes() -> None:
    assert M.seqeval_entities(["B-PER", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 1)]
    assert M.seqeval_entities(["B-PER", "B-PER"]) == [("PER", 0, 0), ("PER", 1, 1)]
    # A split entity matches nothing: precision and recall both 0.
    assert M.seqeval_f1([["B-PER", "B-PER"]], [["B-PER", "I-PER"]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_seqeval_micro_average_over_sentences() -> None:
    ref = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    r = M.seqeval_f1(pred, ref)  # 3 gold, 3 predicted, 2 correct
    assert r == {"f1": approx(200 / 3), "precision": approx(200 / 3), "recall": approx(200 / 3)}


def test_seqeval_no_entities_gives_zero_and_mismatch_raises() -> None:
    assert M.seqeval_f1([["O"]], [["O"]])["f1"] == 0.0
    with pytest.raises(ValueError, match="sentence 0 has 1 predicted tags but 2 gold tags"):
        M.seqeval_f1([["O"]], [["O", "O"]])


def test_seqeval_matches_the_seqeval_library_on_random_tags() -> None:
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.metrics.sequence_labeling import get_entities

    rng = random.Random(7)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "E-PER", "S-LOC", "NOUN", "VERB", "CCONJ",
            "SCONJ", "X", "PUNCT", "INTJ", "B", "I"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns about non-IOB tags such as NOUN
        for _ in range(500):
            ref = [[rng.choice(tags) for _ in range(rng.randint(1, 7))] for _ in range(rng.randint(1, 4))]
            pred = [[rng.choice(tags) for _ in s] for s in ref]
            assert M.seqeval_entities(ref[0], "seqeval1") == get_entities(ref[0])
            r = M.seqeval_f1(pred, ref, chunking="seqeval1")
            assert r["f1"] == approx(100 * f1_score(ref, pred))
            assert r["precision"] == approx(100 * precision_score(ref, pred))
            assert r["recall"] == approx(100 * recall_score(ref, pred))


def test_seqeval_sentence_starting_with_typeless_tag_continues_previous_chunk() -> None:
    # seqeval scores the concatenation with an 'O' between sentences; an 'X' after that 'O' does
    # not open a new chunk (same type '_'), so the chunk runs from the previous 'I' onwards,
    # and a final type-less tag never closes at all (the closing 'O' has the same type '_').
    from seqeval.metrics.sequence_labeling import get_entities

    seq = ["NOUN", "I", "O", "X", "VERB"]
    expected = [("OUN", 0, 0), ("_", 1, 1), ("_", 1, 3), ("ERB", 4, 4)]
    assert M.seqeval_entities(seq, "seqeval1") == expected
    assert M.seqeval_entities(["NOUN", "X"], "seqeval1") == [("OUN", 0, 0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert get_entities(seq) == expected
        assert get_entities(["NOUN", "X"]) == [("OUN", 0, 0)]


def test_seqeval_releases_agree_on_entity_tags() -> None:
    rng = random.Random(3)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "E-PER", "S-LOC", "B-ORG"]
    for _ in range(300):
        ref = [[rng.choice(tags) for _ in range(rng.randint(1, 7))] for _ in range(rng.randint(1, 3))]
        pred = [[rng.choice(tags) for _ in s] for s in ref]
        assert M.seqeval_f1(pred, ref) == M.seqeval_f1(pred, ref, chunking="seqeval1")
    with pytest.raises(ValueError, match="chunking 'x'"):
        M.seqeval_entities(["O"], "x")


def test_pos_accuracy_and_xtreme_pos_f1() -> None:
    # The first letter of a bare UPOS tag is read as the IOB "chunk tag"; the type is the whole
    # tag (seqeval 0.0.x, XTREME's reference) or the rest after the first letter (seqeval 1.x),
    # where CCONJ and SCONJ share the type 'CONJ' and that confusion is forgiven.
    pred, gold = [["NOUN", "VERB", "CCONJ"]], [["NOUN", "VERB", "SCONJ"]]
    r = M.pos_accuracy(pred, gold, chunking="seqeval0")
    assert r["accuracy"] == approx(200 / 3)
    assert r["f1"] == approx(200 / 3)  # NOUN, VERB right; SCONJ ≠ CCONJ
    assert M.pos_accuracy(pred, gold)["f1"] == 100.0  # seqeval 1.x, the default
    # Repeated tags merge into one chunk: gold NOUN NOUN is one chunk, so one wrong tag costs it all.
    r = M.pos_accuracy([["NOUN", "VERB"]], [["NOUN", "NOUN"]])
    assert r["accuracy"] == 50.0
    assert r["f1"] == 0.0
    assert M.primary_score("pos_accuracy", r) == 0.0


# ---------------------------------------------------------------------------------------------
# SQuAD v1.1


def test_squad_normalisation_articles_punctuation_whitespace() -> None:
    assert M.normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert M.normalize_answer("U.S.A.") == "usa"
    assert M.normalize_answer("rock-and-roll") == "rockandroll"
    assert M.normalize_answer("Theater of an Anthem") == "theater of anthem"  # \b: only whole words
    # Only ASCII punctuation: guillemets and curly quotes survive SQuAD normalisation.
    assert M.normalize_answer("«Berlin»") == "«berlin»"


def test_squad_em_f1_hand_computed() -> None:
    # pred → "cat sat on mat" (4 tokens), gold → "cat on mat" (3): 3 shared, P=3/4, R=1, F1=6/7.
    r = M.squad_em_f1({"q": "the cat sat on the mat"}, {"q": ["a cat on a mat"]})
    assert r == {"exact_match": 0.0, "f1": approx(600 / 7)}
    assert M.qa_exact_match("an apple", "Apple") == 1.0


def test_squad_answers_that_normalise_to_nothing() -> None:
    # Both sides become "": exact match, but F1 is 0 (no shared token), as in evaluate-v1.1.py.
    assert M.qa_exact_match("the", "a") == 1.0
    assert M.qa_f1("the", "a") == 0.0


def test_squad_max_over_gold_and_missing_predictions_score_zero() -> None:
    refs = {"q1": ["Denver Broncos", "the Broncos"], "q2": ["Santa Clara"], "q3": ["1990"]}
    preds = {"q1": "Broncos", "q2": "Santa Clara, California", "extra": "ignored"}
    r = M.squad_em_f1(preds, refs)
    # q1: max(F1 2/3 vs "denver broncos", EM 1 vs "broncos") → EM 1, F1 1.
    # q2: "santa clara california" vs "santa clara": P 2/3, R 1 → F1 0.8, EM 0. q3: missing → 0.
    assert r["exact_match"] == approx(100 / 3)
    assert r["f1"] == approx(100 * (1 + 0.8) / 3)


def test_squad_bad_references() -> None:
    with pytest.raises(ValueError, match="no gold questions"):
        M.squad_em_f1({}, {})
    with pytest.raises(ValueError, match="must be a list"):
        M.squad_em_f1({"q": "x"}, {"q": "x"})


# ---------------------------------------------------------------------------------------------
# MLQA


def test_mlqa_unicode_punctuation_is_removed() -> None:
    assert M.normalize_answer("«Berlin»", "de") == "berlin"
    assert M.squad_em_f1({"q": "“Berlin”"}, {"q": ["Berlin"]}, lang="en")["exact_match"] == 100.0
    assert M.squad_em_f1({"q": "“Berlin”"}, {"q": ["Berlin"]})["exact_match"] == 0.0  # SQuAD: kept


def test_mlqa_language_specific_articles() -> None:
    assert M.qa_exact_match("la casa", "casa", "es") == 1.0
    assert M.qa_exact_match("la casa", "casa", "en") == 0.0
    assert M.qa_exact_match("der Hund", "Hund", "de") == 1.0
    assert M.qa_exact_match("những con mèo", "con mèo", "vi") == 1.0
    assert M.normalize_answer("एक किताब", "hi") == "एक किताब"  # Hindi: no articles removed


def test_mlqa_arabic_al_is_removed_everywhere() -> None:
    # MLQA's regex '\sال^|ال' in effect deletes every 'ال', also inside a word.
    assert M.qa_exact_match("الكتاب", "كتاب", "ar") == 1.0
    assert M.normalize_answer("مالك", "ar") == "م ك"


def test_mlqa_chinese_mixed_segmentation() -> None:
    assert M.normalize_answer("北京大学。", "zh") == "北 京 大 学"
    assert M.normalize_answer("iPhone 手机", "zh") == "iphone 手 机"
    # pred [北 京 大 学] vs gold [北 京]: P=2/4, R=1 → F1=2/3; whole-string tokens would give 0.
    assert M.qa_f1("北京大学", "北京", "zh") == approx(2 / 3)
    assert M.qa_f1("北京大学", "北京") == 0.0
    r = M.compute("mlqa", {"q": "北京大学"}, {"q": ["北京", "清华"]}, lang="zh")
    assert r == {"exact_match": 0.0, "f1": approx(200 / 3)}


def test_mlqa_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no rules for language 'kk'"):
        M.normalize_answer("x", "kk")
    with pytest.raises(ValueError, match="needs the answer language"):
        M.mlqa_em_f1({"q": "x"}, {"q": ["x"]}, lang=None)  # type: ignore[arg-type]


def test_real_xquad_gold_answers_score_100(data_root) -> None:
    """Each XQuAD-de question answered with its own first gold answer scores 100 EM/F1."""
    import json
    import lzma

    with lzma.open(data_root / "xquad" / "xquad.de.json.xz", "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    refs = {qa["id"]: [a["text"] for a in qa["answers"]]
            for art in data for par in art["paragraphs"] for qa in par["qas"]}
    assert len(refs) == 1190
    preds = {qid: golds[0] for qid, golds in refs.items()}
    assert M.squad_em_f1(preds, refs) == {"exact_match": 100.0, "f1": 100.0}
    assert M.squad_em_f1(preds, refs, lang="de") == {"exact_match": 100.0, "f1": 100.0}


# ---------------------------------------------------------------------------------------------
# Registry, primary score, leaderboard aggregate


def test_registry_and_primary_score() -> None:
    assert set(M.METRICS) == {"accuracy", "seqeval_f1", "pos_accuracy", "squad", "mlqa", "bucc_f1",
                              "retrieval_accuracy"}
    assert M.primary_score("squad", {"exact_match": 60.0, "f1": 70.0}) == 65.0
    assert M.primary_score("bucc_f1", {"f1": 10.0, "precision": 1.0, "recall": 2.0}) == 10.0
    assert M.primary_score("accuracy", {"accuracy": 42.0}) == 42.0
    with pytest.raises(KeyError, match="Did you mean 'squad'"):
        M.primary_score("sqaud", {})
    with pytest.raises(KeyError, match="lack 'exact_match'"):
        M.primary_score("mlqa", {"f1": 1.0})


SMALL_LANGS = {"xnli": ["en", "de"], "pawsx": ["en", "de"], "udpos": ["en"], "panx": ["en"],
               "xquad": ["en", "de"], "mlqa": ["en"], "tydiqa": ["en"], "bucc2018": ["de"], "tatoeba": ["de", "kk"]}


def small_results() -> dict:
    return {
        "xnli": {"en": {"accuracy": 80.0}, "de": {"accuracy": 70.0}},
        "pawsx": {"en": {"accuracy": 90.0}, "de": {"accuracy": 80.0}},
        "udpos": {"en": {"accuracy": 95.0, "f1": 90.0, "precision": 1.0, "recall": 1.0}},
        "panx": {"en": {"f1": 80.0, "precision": 1.0, "recall": 1.0}},
        "xquad": {"en": {"exact_match": 60.0, "f1": 70.0}, "de": {"exact_match": 40.0, "f1": 50.0},
                  "ro": {"exact_match": 0.0, "f1": 0.0}},
        "mlqa": {"en": {"exact_match": 50.0, "f1": 60.0}},
        "tydiqa": {"en": {"exact_match": 30.0, "f1": 40.0}},
        "bucc2018": {"de": {"f1": 60.0, "precision": 50.0, "recall": 75.0}},
        "tatoeba": {"de": {"accuracy": 70.0}, "kk": {"accuracy": 50.0}},
    }


def test_leaderboard_aggregate_hand_computed() -> None:
    agg = M.leaderboard_aggregate(small_results(), task_languages=SMALL_LANGS)
    t = agg["tasks"]
    assert t["xnli"]["avg_metric"] == 75.0
    assert t["udpos"]["avg_metric"] == 90.0  # F1, not accuracy, as XTREME's evaluate.py
    assert t["xquad"]["avg_metric"] == 55.0  # (avg EM 50 + avg F1 60) / 2; 'ro' ignored
    assert t["xquad"]["ignored_languages"] == ["ro"]
    assert t["xquad"]["per_language"] == {"en": 65.0, "de": 45.0}
    assert t["bucc2018"]["avg_metric"] == 60.0
    assert agg["groups"] == {"classification": 80.0, "tagging": 85.0, "qa": approx(145 / 3), "retrieval": 60.0}
    assert agg["overall"] == approx(595 / 9)  # mean of the nine task scores, not of the groups
    assert agg["complete"] is True and agg["missing_tasks"] == []


def test_leaderboard_aggregate_incomplete_runs() -> None:
    res = small_results()
    del res["tydiqa"]
    res["kazqad"] = {"kk": {"exact_match": 10.0, "f1": 20.0}}  # our suite: averaged, never in overall
    agg = M.leaderboard_aggregate(res)  # the real XTREME language lists
    assert agg["overall"] is None and "qa" not in agg["groups"]
    assert agg["groups"]["classification"] == 80.0
    assert agg["missing_tasks"] == ["tydiqa"]
    assert agg["tasks"]["xnli"]["complete"] is False
    assert "ar" in agg["tasks"]["xnli"]["missing_languages"]
    assert agg["tasks"]["kazqad"]["avg_metric"] == 15.0
    assert agg["complete"] is False
    only_ro = M.leaderboard_aggregate({"xquad": {"ro": {"exact_match": 1.0, "f1": 2.0}}})
    assert only_ro["tasks"] == {} and only_ro["groups"] == {} and only_ro["ignored_tasks"] == {"xquad": ["ro"]}
    assert only_ro["mean_of_available_tasks"] is None and "xquad" in only_ro["missing_tasks"]


def test_xtreme_tables_match_the_task_registry() -> None:
    from eval_xtreme.tasks import XTREME_TASKS, get_task

    assert set(XTREME_TASKS) == set(M.XTREME_TASK_LANGUAGES)
    for name in XTREME_TASKS:
        assert get_task(name).languages == M.XTREME_TASK_LANGUAGES[name], name
        assert get_task(name).metric in M.METRICS
