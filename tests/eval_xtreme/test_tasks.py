"""The task registry: XTREME's nine tasks as evaluate.py defines them, our suite, and file resolution."""

from __future__ import annotations

import pytest

from eval_xtreme.tasks import (
    TASKS,
    TURKIC_SUITE,
    XTREME_TASKS,
    get_task,
    parse_task_spec,
    task_groups,
)

# google-research/xtreme evaluate.py: GROUP2TASK and METRIC_FUNCTION (udpos is scored like a tagger).
XTREME_GROUPS = {"classification": ["pawsx", "xnli"], "tagging": ["panx", "udpos"],
                 "qa": ["mlqa", "tydiqa", "xquad"], "retrieval": ["bucc2018", "tatoeba"]}


def test_all_nine_xtreme_tasks():
    assert sorted(XTREME_TASKS) == sorted(t for ts in XTREME_GROUPS.values() for t in ts)
    assert {g: sorted(ts) for g, ts in task_groups().items()} == XTREME_GROUPS
    kinds = {n: get_task(n).kind for n in XTREME_TASKS}
    assert kinds == {"xnli": "classification", "pawsx": "classification", "udpos": "token_classification",
                     "panx": "token_classification", "xquad": "qa", "mlqa": "qa", "tydiqa": "qa",
                     "bucc2018": "retrieval", "tatoeba": "retrieval"}
    assert get_task("xnli").head == "AutoModelForSequenceClassification"
    assert get_task("udpos").head == "AutoModelForTokenClassification"
    assert get_task("xquad").head == "AutoModelForQuestionAnswering"
    # Language counts of XTREME's TASK2LANGS.
    counts = {n: len(get_task(n).languages) for n in XTREME_TASKS}
    assert counts == {"pawsx": 7, "xnli": 15, "panx": 40, "udpos": 33, "bucc2018": 4, "tatoeba": 36,
                      "xquad": 11, "mlqa": 7, "tydiqa": 9}
    assert "ro" not in get_task("xquad").languages  # XTREME-R only
    assert get_task("xnli").labels == ("contradiction", "entailment", "neutral")
    assert len(get_task("udpos").labels) == 17


def test_turkic_suite_is_generated_from_the_same_definitions():
    for name in TURKIC_SUITE:
        assert name in TASKS and not get_task(name).xtreme
    tt, base = get_task("tatoeba_turkic"), get_task("tatoeba")
    assert tt.languages == ("ug", "kk", "tt", "uz")
    assert [c.format for c in tt.files["test"]] == [c.format for c in base.files["test"]]
    assert [c.paths for c in tt.files["test"]] == [c.paths for c in base.files["test"]]
    assert get_task("udpos_turkic").files == get_task("udpos").files
    assert get_task("kaznerd").labels == ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")


def test_suite_test_data_is_real(data_root):
    """Every Uyghur/Kazakh suite language resolves to real data here (not a fixture)."""
    for name in TURKIC_SUITE:
        task = get_task(name)
        for lang in task.languages:
            df = task.resolve("test", lang, data_root)
            assert not df.fixture, (name, lang)
            assert all(p.is_file() for p in df.paths)


def test_udpos_concatenates_every_treebank_of_a_language(data_root):
    df = get_task("udpos").resolve("test", "en", data_root)
    assert [p.name for p in df.paths] == ["en_ewt-ud-test.conllu.xz", "en_pud-ud-test.conllu.xz"]


def test_xtreme_download_layout_wins_over_raw(tmp_path):
    (tmp_path / "download" / "xnli").mkdir(parents=True)
    (tmp_path / "download" / "xnli" / "test-de.tsv").write_text("a\tb\n", encoding="utf-8")
    (tmp_path / "xnli" / "XNLI-1.0").mkdir(parents=True)
    (tmp_path / "xnli" / "XNLI-1.0" / "xnli.test.tsv").write_text("language\n", encoding="utf-8")
    df = get_task("xnli").resolve("test", "de", tmp_path)
    assert df.format == "xtreme_pair_tsv" and df.paths[0].name == "test-de.tsv"
    df = get_task("xnli").resolve("test", "fr", tmp_path)
    assert df.format == "xnli_tsv"


def test_missing_file_names_task_language_and_path(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        get_task("tatoeba_turkic").resolve("test", "ug", tmp_path)
    msg = str(e.value)
    assert "tatoeba_turkic" in msg and "language ug" in msg
    assert str(tmp_path / "tatoeba" / "tatoeba.uig-eng.uig") in msg
    assert str(tmp_path / "download" / "tatoeba" / "ug-en.ug") in msg


def test_fixtures_are_flagged_and_can_be_refused(data_root):
    df = get_task("xnli").resolve("test", "fr", data_root)
    assert df.fixture and "FIXTURE" in df.describe()
    with pytest.raises(FileNotFoundError, match="xnli, language fr"):
        get_task("xnli").resolve("test", "fr", data_root, allow_fixtures=False)
    real = get_task("xnli").resolve("test", "de", data_root, allow_fixtures=False)
    assert not real.fixture and real.format == "xglue_nli"


def test_substitutes_are_named(data_root):
    df = get_task("kaznerd").resolve("test", "kk", data_root)
    assert "validation" in df.substitute
    assert get_task("xquad").resolve("train", "en", data_root).options == {"paragraphs": [0, 200]}


def test_parse_task_spec():
    task, langs = parse_task_spec("udpos_turkic:ug+kk")
    assert task.name == "udpos_turkic" and langs == ("ug", "kk")
    assert parse_task_spec("xnli")[1] == get_task("xnli").languages
    with pytest.raises(ValueError, match="language\\(s\\) xx not in"):
        parse_task_spec("xnli:de+xx")
    with pytest.raises(KeyError, match="Did you mean 'tatoeba'"):
        parse_task_spec("tatoebaa")
