"""Loaders on every real format in the data root, plus hand-made files for the edge cases."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from xtreme_prep_reference import xtreme_fused_reference

from eval_xtreme.loaders import LOADERS, load_split, map_entity_tags, sort_english_side
from eval_xtreme.tasks import DataFile, get_task
from xling.io import read_lines


def df_for(fmt: str, *paths: Path, lang: str = "xx", **options) -> DataFile:
    return DataFile("t", "test", lang, tuple(paths), fmt, options, False, "")


def load(task: str, split: str, lang: str, root):
    return load_split(get_task(task), split, lang, root)


# ---------------------------------------------------------------------------------------------------
# UD / CoNLL-U
# ---------------------------------------------------------------------------------------------------

def test_conllu_real_treebanks(data_root):
    ug, df = load("udpos_turkic", "test", "ug", data_root)
    assert df.format == "conllu" and len(ug) == 900
    kk, _ = load("udpos_turkic", "test", "kk", data_root)
    assert len(kk) == 1047
    en, _ = load("udpos", "train", "en", data_root)
    # The official EWT train has 204,577 words; its 2,614 multiword tokens (2,615 words lost: one
    # spans three words) become one token each, as in XTREME's conversion.
    assert len(en) == 12544 and sum(len(s.tokens) for s in en) == 204577 - 2615
    upos = set(get_task("udpos").labels)
    assert {t for s in ug + kk + en for t in s.tags} <= upos
    assert all(len(s.tokens) == len(s.tags) for s in ug)


def test_conllu_fuses_multiword_tokens_and_skips_empty_nodes(tmp_path):
    p = tmp_path / "pt_x-ud-test.conllu"
    p.write_text("# sent_id = s1\n"
                 # "do" = de (ADP) + o (DET), both attached to "país": a tie, broken by the default
                 # precedence (ADP before DET).
                 "1-2\tdo\t_\t_\t_\t_\t_\t_\t_\t_\n"
                 "1\tde\tde\tADP\t_\t_\t3\tcase\t_\t_\n"
                 "2\to\to\tDET\t_\t_\t3\tdet\t_\t_\n"
                 "3\tpaís\tpaís\tNOUN\t_\t_\t0\troot\t_\t_\n"
                 "3.1\tx\tx\tNOUN\t_\t_\t_\t_\t_\t_\n"
                 # "dá-lo" = dá (VERB) + lo (PRON, depends on dá): the higher word wins outright.
                 "4-5\tdá-lo\t_\t_\t_\t_\t_\t_\t_\t_\n"
                 "4\tdá\tdar\tVERB\t_\t_\t3\tacl\t_\t_\n"
                 "5\tlo\tele\tPRON\t_\t_\t4\tobj\t_\t_\n"
                 "6\t.\t.\tPUNCT\t_\t_\t3\tpunct\t_\t_\n\n", encoding="utf-8")
    (s,) = LOADERS.get("conllu")(df_for("conllu", p))
    assert s.id == "s1" and s.tokens == ["do", "país", "dá-lo", "."] and s.tags == ["ADP", "NOUN", "VERB", "PUNCT"]
    # Spanish ranks only VERB AUX PRON ADP DET: the same tie goes to ADP there too, but an
    # Italian "ADV vs PRON" tie goes to ADV (its list puts ADV before PRON; the default the other way).
    tie = ("1-2\tXY\t_\t_\t_\t_\t_\t_\t_\t_\n1\tX\tx\tPRON\t_\t_\t3\tobj\t_\t_\n"
           "2\tY\ty\tADV\t_\t_\t3\tadvmod\t_\t_\n3\tZ\tz\tVERB\t_\t_\t0\troot\t_\t_\n\n")
    for lang, tag in (("it", "ADV"), ("de", "PRON")):
        q = tmp_path / f"{lang}_t-ud-test.conllu"
        q.write_text(tie, encoding="utf-8")
        (s,) = LOADERS.get("conllu")(df_for("conllu", q))
        assert s.tokens == ["XY", "Z"] and s.tags == [tag, "VERB"], lang


def test_conllu_enhanced_dependencies_count_as_ancestors(tmp_path):
    # Basic tree: both words of "ab" hang off 3 (a tie). An enhanced edge 3 → 2 → ... gives word 1
    # an extra ancestor (2), so word 2 is the single highest word: ud-conversion-tools builds one
    # graph from HEAD and DEPS.
    p = tmp_path / "en_e-ud-test.conllu"
    p.write_text("1-2\tab\t_\t_\t_\t_\t_\t_\t_\t_\n"
                 "1\ta\ta\tVERB\t_\t_\t3\tdep\t3:dep|2:dep\t_\n"
                 "2\tb\tb\tDET\t_\t_\t3\tdet\t3:det\t_\n"
                 "3\tc\tc\tNOUN\t_\t_\t0\troot\t0:root\t_\n\n", encoding="utf-8")
    (s,) = LOADERS.get("conllu")(df_for("conllu", p))
    assert s.tokens == ["ab", "c"] and s.tags == ["DET", "NOUN"]


def test_conllu_files_are_read_in_file_name_order_and_english_trains_on_every_treebank(tmp_path):
    # Directory order (UD_English-A < UD_English-B) is the opposite of file-name order (en_b < en_z).
    word = "1\t{w}\t{w}\tNOUN\t_\t_\t0\troot\t_\t_\n\n"
    for d, name, w in (("UD_English-A", "en_z", "zed"), ("UD_English-B", "en_b", "bee")):
        for split in ("train", "test"):
            f = tmp_path / "udpos" / d / f"{name}-ud-{split}.conllu"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(word.format(w=w), encoding="utf-8")
    test, _ = load_split(get_task("udpos"), "test", "en", tmp_path)
    assert [s.tokens for s in test] == [["bee"], ["zed"]]
    train, df = load_split(get_task("udpos"), "train", "en", tmp_path)
    assert [s.tokens for s in train] == [["bee"], ["zed"]] and len(df.paths) == 2


@pytest.mark.parametrize("lang", ["pt", "it", "fr", "de", "es", "en"])
def test_conllu_matches_an_independent_fused_form_conversion(data_root, lang):
    sents, df = load("udpos", "test", lang, data_root)
    expected = [pair for path in sorted(df.paths, key=lambda p: p.name) for pair in xtreme_fused_reference(path)]
    assert [(s.tokens, s.tags) for s in sents] == expected
    if lang == "pt":
        # XTREME's download/udpos/test-pt.tsv has 21,917 tokens (1,490 multiword tokens fewer than
        # the 23,407 syntactic words of pt_pud-ud-test.conllu).
        assert sum(len(s.tokens) for s in sents) == 21917
def test_conllu_malformed_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.conllu"
    p.write_text("# c\n1\tA\ta\tNOUN\t_\t_\t0\troot\t_\t_\n2\tB\tNOUN\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{p}:3: CoNLL-U word line must have 10"):
        LOADERS.get("conllu")(df_for("conllu", p))


def test_xtreme_tag_tsv_with_and_without_labels(tmp_path):
    p = tmp_path / "dev-en.tsv"
    p.write_text("I\tPRON\nran\tVERB\n\nGo\tVERB\n", encoding="utf-8")
    sents = LOADERS.get("xtreme_tag_tsv")(df_for("xtreme_tag_tsv", p))
    assert [s.tokens for s in sents] == [["I", "ran"], ["Go"]] and sents[1].tags == ["VERB"]
    q = tmp_path / "test-de.tsv"
    q.write_text("Ich\nlaufe\n\n", encoding="utf-8")  # XTREME strips test labels
    (s,) = LOADERS.get("xtreme_tag_tsv")(df_for("xtreme_tag_tsv", q))
    assert s.tokens == ["Ich", "laufe"] and s.tags is None


# ---------------------------------------------------------------------------------------------------
# NER
# ---------------------------------------------------------------------------------------------------

def test_panx_raw_fixture_strips_language_prefix(data_root):
    sents, df = load("panx", "dev", "en", data_root)
    assert df.fixture
    assert sents[0].tokens[:3] == ["Sioux", "Falls", "Arena"] and sents[0].tags[:3] == ["B-ORG", "I-ORG", "I-ORG"]
    kk, _ = load("panx", "test", "kk", data_root)
    assert not any(t.startswith("kk:") for s in kk for t in s.tokens)


def test_panx_raw_malformed(tmp_path):
    p = tmp_path / "en-train"
    p.write_text("en:a\tO\nb\tO\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{p}:2: token 'b' lacks the `lang:` prefix"):
        LOADERS.get("panx_raw")(df_for("panx_raw", p))


def test_uner_real(data_root):
    train, df = load("uner_pud", "train", "en", data_root)
    assert "dev stands in" in df.substitute and len(train) == 2001
    de, _ = load("uner_pud", "test", "de", data_root)
    assert len(de) == 1000
    assert {t for s in train + de for t in s.tags} <= set(get_task("uner_pud").labels)


def test_kaznerd_mapped_to_per_loc_org(data_root):
    sents, df = load("kaznerd", "test", "kk", data_root)
    assert len(sents) == 11167 and df.substitute
    counts = Counter(t for s in sents for t in s.tags)
    assert set(counts) == {"O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"}
    # Raw token counts in MANIFEST: PERSON 2460, ORGANISATION 1579, GPE 2013 + LOCATION 282.
    assert counts["B-PER"] + counts["I-PER"] == 2460
    assert counts["B-ORG"] + counts["I-ORG"] == 1579
    assert counts["B-LOC"] + counts["I-LOC"] == 2013 + 282


def test_map_entity_tags_hand_example():
    tags = ["B-PERSON", "I-PERSON", "O", "B-GPE", "B-DATE", "I-DATE", "B-LOCATION"]
    assert map_entity_tags(tags, {"PERSON": "PER", "GPE": "LOC", "LOCATION": "LOC"}) == \
        ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "B-LOC"]


def test_conll_ner_rejects_non_iob_tag(tmp_path):
    p = tmp_path / "ner.txt"
    p.write_text("Астана B-GPE\nқаласы PERSON\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{p}:2: tag 'PERSON' is not IOB2"):
        LOADERS.get("conll_ner")(df_for("conll_ner", p))


# ---------------------------------------------------------------------------------------------------
# Sentence pairs
# ---------------------------------------------------------------------------------------------------

def test_xnli_real_german_and_official_fixture(data_root):
    de, df = load("xnli", "test", "de", data_root)
    assert df.format == "xglue_nli" and len(de) == 5010
    assert Counter(e.label for e in de) == {"contradiction": 1670, "entailment": 1670, "neutral": 1670}
    ar, df = load("xnli", "test", "ar", data_root)
    assert df.fixture and len(ar) == 1 and ar[0].label == "contradiction"
    train, _ = load("xnli", "train", "en", data_root)
    assert {e.label for e in train} <= set(get_task("xnli").labels)


def test_multinli_contradictory_is_mapped(tmp_path):
    p = tmp_path / "multinli.train.en.tsv"
    p.write_text("premise\thypo\tlabel\nA\tB\tcontradictory\nC\tD\tneutral\n", encoding="utf-8")
    rows = LOADERS.get("multinli_tsv")(df_for("multinli_tsv", p))
    assert [r.label for r in rows] == ["contradiction", "neutral"]


def test_pawsx_real_german(data_root):
    de, df = load("pawsx", "test", "de", data_root)
    assert len(de) == 2000 and not df.fixture and {e.label for e in de} == {"0", "1"}


def test_pawsx_bad_label(tmp_path):
    p = tmp_path / "dev_2k.tsv"
    p.write_text("id\tsentence1\tsentence2\tlabel\n1\ta\tb\tyes\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{p}:2: label must be 0 or 1"):
        LOADERS.get("pawsx_tsv")(df_for("pawsx_tsv", p))


def test_xtreme_pair_tsv_test_has_no_label(tmp_path):
    p = tmp_path / "test-de.tsv"
    p.write_text('"Er sagte ""ja""."\tB\n', encoding="utf-8")  # csv-quoted as XTREME writes it
    (ex,) = LOADERS.get("xtreme_pair_tsv")(df_for("xtreme_pair_tsv", p))
    assert ex.text_a == 'Er sagte "ja".' and ex.label is None


# ---------------------------------------------------------------------------------------------------
# QA
# ---------------------------------------------------------------------------------------------------

def test_xquad_real(data_root):
    for lang in ("en", "de", "zh"):
        qs, _ = load("xquad", "test", lang, data_root)
        assert len(qs) == 1190
        assert all(q.context[q.answer_starts[0]:q.answer_starts[0] + len(q.answers[0])] == q.answers[0]
                   for q in qs)
    train, df = load("xquad", "train", "en", data_root)
    dev, _ = load("xquad", "dev", "en", data_root)
    assert df.substitute and len(train) + len(dev) == 1190
    assert not {q.id for q in train} & {q.id for q in dev}


def test_kazqad_real(data_root):
    qs, _ = load("kazqad", "test", "kk", data_root)
    assert len(qs) == 764 and all(q.answers for q in qs)


def test_kazqad_malformed_line(tmp_path):
    p = tmp_path / "k.jsonl"
    p.write_text('{"id": 1, "question": "q", "context": "c", "answers": {"text": ["c"], "answer_start": [0]}}\n'
                 '{"id": 2, "question": "q"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{p}:2: missing or malformed field"):
        LOADERS.get("kazqad_jsonl")(df_for("kazqad_jsonl", p))


def test_mlqa_arrow_real_german(data_root):
    rows, df = load("mlqa", "test", "de", data_root)
    assert df.format == "hf_arrow_qa" and "dev" in df.substitute and not df.fixture
    assert len(rows) == 512 and all(r.answers for r in rows)
    assert all(r.context[r.answer_starts[0]:].startswith(r.answers[0]) for r in rows)


def test_tydiqa_filters_by_language(data_root):
    ar, df = load("tydiqa", "test", "ar", data_root)
    assert df.fixture and [q.id for q in ar] == ["arabic-2387335860751143628-1"]
    with pytest.raises(ValueError, match=r"tydiqa, language en, split train: .* holds no examples"):
        load("tydiqa", "train", "en", data_root)


def test_squad_blanked_test_answers_mean_no_gold(tmp_path):
    p = tmp_path / "xquad.de.json"
    p.write_text('{"version": "1.1", "data": [{"paragraphs": [{"context": "abc", "qas": '
                 '[{"id": "q1", "question": "?", "answers": [{"answer_start": 0, "text": ""}]}]}]}]}',
                 encoding="utf-8")
    (q,) = LOADERS.get("squad_json")(df_for("squad_json", p))
    assert q.answers == [] and q.id == "q1"


def test_squad_malformed_json(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"data": [\n{"paragraphs": }]}', encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{p}:2: malformed JSON"):
        LOADERS.get("squad_json")(df_for("squad_json", p))


# ---------------------------------------------------------------------------------------------------
# Retrieval
# ---------------------------------------------------------------------------------------------------

def test_laser_tatoeba_real_and_xtreme_sorting(data_root):
    rs, df = load("tatoeba_turkic", "test", "kk", data_root)
    assert len(rs.source) == len(rs.target) == 575 and rs.gold == list(range(575))
    eng = read_lines(data_root / "tatoeba" / "tatoeba.kaz-eng.eng")
    xt, df = load("tatoeba", "test", "kk", data_root)
    assert df.options["sort_english"] is True
    assert xt.target == sorted(eng)  # XTREME's tatoeba_preprocess sorts the English side
    assert all(xt.target[xt.gold[i]] == eng[i] for i in range(len(eng)))


def test_sort_english_side_stable_on_duplicates():
    sorted_, pos = sort_english_side(["b", "a", "b"])
    assert sorted_ == ["a", "b", "b"] and pos == [1, 0, 2]


def test_xtreme_tatoeba_layout_has_no_gold(tmp_path):
    d = tmp_path / "download" / "tatoeba"
    d.mkdir(parents=True)
    (d / "kk-en.kk").write_text("бір\nекі\n", encoding="utf-8")
    (d / "kk-en.en").write_text("one\ntwo\n", encoding="utf-8")
    rs, df = load_split(get_task("tatoeba"), "test", "kk", tmp_path)
    assert df.format == "xtreme_tatoeba" and rs.gold is None and rs.source == ["бір", "екі"]


def test_parallel_lines_real(data_root):
    rs, df = load("flores_en_ug", "test", "ug", data_root)
    assert len(rs.source) == 997 and "dev" in df.substitute
    rs, _ = load("xwmt_en_kk", "test", "kk", data_root)
    assert len(rs.source) == 700


def test_parallel_lines_length_mismatch(tmp_path):
    a, b = tmp_path / "a.kk", tmp_path / "a.en"
    a.write_text("x\ny\n", encoding="utf-8")
    b.write_text("x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"has 2 lines but .* has 1"):
        LOADERS.get("parallel_lines")(df_for("parallel_lines", a, b))


def write_bucc(d: Path, lang: str, split: str, src: list[str], trg: list[str], gold: list[tuple[int, int]]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{lang}-en.{split}.{lang}").write_text(
        "".join(f"{lang}-{i:09d}\t{s}\n" for i, s in enumerate(src)), encoding="utf-8")
    (d / f"{lang}-en.{split}.en").write_text("".join(f"en-{i:09d}\t{s}\n" for i, s in enumerate(trg)), encoding="utf-8")
    if gold is not None:
        (d / f"{lang}-en.{split}.gold").write_text(
            "".join(f"{lang}-{a:09d}\ten-{b:09d}\n" for a, b in gold), encoding="utf-8")


def test_bucc_official_layout(tmp_path):
    write_bucc(tmp_path / "download" / "bucc2018", "de", "dev", ["Hallo", "Welt"], ["world", "hello", "x"],
               [(0, 1), (1, 0)])
    bs, _ = load_split(get_task("bucc2018"), "dev", "de", tmp_path)
    assert bs.gold == {("de-000000000", "en-000000001"), ("de-000000001", "en-000000000")}
    assert bs.target["en-000000002"] == "x"
    (tmp_path / "download" / "bucc2018" / "de-en.dev.gold").write_text("de-000000000\ten-000000009\n")
    with pytest.raises(ValueError, match=r"de-en.dev.gold:1: gold pair .* unknown sentence id"):
        load_split(get_task("bucc2018"), "dev", "de", tmp_path)


def test_missing_split_error_names_task_language_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"task kazqad, language kk, split test: .*kazqad-reading"):
        load_split(get_task("kazqad"), "test", "kk", tmp_path)
