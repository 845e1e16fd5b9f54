"""`finetune.self_train`: the tagger's surest target-language sentences, never a test sentence, join its
source set for a second fine-tuning."""

from __future__ import annotations

import lzma

import pytest

from eval_xtreme.finetune import FinetuneConfig
from eval_xtreme.loaders import TaggedSentence
from eval_xtreme.runner import EvalConfig, run_eval
from eval_xtreme.self_training import OverlapIndex, most_confident, read_pool, words
from xling.core.errors import InputError
from xling.core.io import read_json


def test_words_split_like_ud():
    # real sentences from the data root's kk and ug files; UD writes punctuation and the abbreviation's
    # full stop as tokens of their own, keeps hyphenated words whole
    assert words("1861 жылға дейін Ресейде 9 министрлік жұмыс істеді.") == \
        ["1861", "жылға", "дейін", "Ресейде", "9", "министрлік", "жұмыс", "істеді", "."]
    assert words("«қазақ-орыс әскери одағын» құру") == ["«", "қазақ-орыс", "әскери", "одағын", "»", "құру"]
    assert words('"يېنىش نۇقتىسى" دېگەن سۆزنى ئاڭلىغانمۇ؟') == \
        ['"', "يېنىش", "نۇقتىسى", '"', "دېگەن", "سۆزنى", "ئاڭلىغانمۇ", "؟"]


def test_overlap_index_holds_whole_sentences_and_eight_word_ngrams():
    test = ["Бүгін", "ауа", "райы", "өте", "жақсы", "болды", "және", "біз", "далаға", "шықтық", "."]
    idx = OverlapIndex.of([test, ["Сәлем", "!"]])
    assert idx.hits(["сәлем"])  # the same sentence, case and punctuation aside
    assert idx.hits(["Кеше", "ауа", "райы", "өте", "жақсы", "болды", "және", "біз", "далаға", "бардық"])  # 8 shared
    assert not idx.hits(["Кеше", "ауа", "райы", "өте", "жақсы", "болды", "және", "біз", "үйде", "қалдық"])  # 7
    assert not idx.hits(["ауа", "райы", "өте"])  # a short piece of a longer sentence is not that sentence


def test_overlap_index_matches_with_the_corpus_stages_key():
    # Uyghur-UDT writes "ئاتا - ئانىسى" where Common Voice's sentence list writes "ئاتا-ئانىسى" (a real pair:
    # one sentence in both); Kazakh typed with a Latin i; Arabic presentation forms
    udt = ["-", "ئاتا", "-", "ئانىسىنىڭ", "تۇغۇلغان", "كۈنىنى", "تەبرىكلىگەنلەر", "قولۇڭلارنى", "كۆتۈرۈڭلار", "!"]
    idx = OverlapIndex.of([udt, ["Білгім", "келмейді", "."], ["سالام", "دوستلار"]])
    assert idx.hits(words("- ئاتا-ئانىسىنىڭ تۇغۇلغان كۈنىنى تەبرىكلىگەنلەر قولۇڭلارنى كۆتۈرۈڭلار !"))
    assert idx.hits(words("Бiлгiм келмейдi!"))
    assert idx.hits(["ﺳﺎﻻﻡ", "دوستلار"])
    assert idx.hits(["سالامدوستلار"])  # the same sentence re-spaced (Uyghur-UDT re-spaces compounds)
    assert not idx.hits(words("Білгім келеді."))


def test_read_pool_drops_held_out_duplicate_and_out_of_range_sentences(tmp_path):
    path = tmp_path / "kk.txt.xz"
    lines = ["Бұл бірінші сөйлем .", "бұл БІРІНШІ сөйлем", "Қысқа", "Бұл сынақ сөйлемі .",
             "1\tЕкінші жолдағы сөйлем бар .\tЕкінші жол·дағы сөйлем бар .", " ".join(["сөз"] * 30)]
    with lzma.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    held = OverlapIndex.of([["Бұл", "сынақ", "сөйлемі"]])
    pool, stats = read_pool("kk", [str(path)], held, max_words=20)
    # of a TSV line (a numbered list, a sentence beside its segmentation) the first column with letters
    assert [ex.tokens for ex in pool] == [["Бұл", "бірінші", "сөйлем", "."], ["Екінші", "жолдағы", "сөйлем", "бар", "."]]
    assert [ex.id for ex in pool] == ["self-train:kk:0:1", "self-train:kk:0:5"]
    assert all(ex.tags is None for ex in pool)
    assert stats == {"lines": 6, "kept": 2, "length": 2, "duplicate": 1, "overlap": 1}
    with pytest.raises(InputError, match=r"self_train\.kk: .*nope\.txt: no such file"):
        read_pool("kk", [str(tmp_path / "nope.txt")], held, max_words=20)


def test_most_confident_keeps_the_k_surest_sentences_in_file_order():
    pool = [TaggedSentence(f"s{i}", ["a", "b"], None) for i in range(4)]
    tags = [["NOUN", "VERB"], ["NUM", "NUM"], ["NOUN", "PUNCT"], ["ADJ", "NOUN"]]
    conf = [[0.9, 0.5], [0.99, 0.97], [0.6, 0.6], [0.8, 0.9]]  # means 0.70, 0.98, 0.60, 0.85
    kept, info = most_confident(pool, tags, conf, k=2)
    assert [ex.id for ex in kept] == ["s1", "s3"] and kept[1].tags == ["ADJ", "NOUN"]
    assert info["kept"] == 2 and info["pool"] == 4 and info["words"] == 4
    assert info["mean_confidence_kept"] == pytest.approx((0.98 + 0.85) / 2)
    assert info["mean_confidence_pool"] == pytest.approx((0.70 + 0.98 + 0.60 + 0.85) / 4)
    assert info["tag_shares"] == {"NUM": 0.5, "ADJ": 0.25, "NOUN": 0.25}
    # a word under the threshold keeps no tag: it is not learnt from
    kept, info = most_confident(pool, tags, conf, k=2, min_confidence=0.85)
    assert [ex.tags for ex in kept] == [["NUM", "NUM"], [None, "NOUN"]]
    assert info["words"] == 4 and info["tagged_words"] == 3
    assert info["tag_shares"] == {"NUM": round(2 / 3, 4), "NOUN": round(1 / 3, 4)}


def test_an_untagged_word_of_a_tagged_sentence_is_not_learnt(tiny_encoder):
    from eval_xtreme.finetune import load_model, make_features
    from eval_xtreme.tasks import TASKS

    task = TASKS.get("udpos_turkic")
    tokenizer, _ = load_model(task, str(tiny_encoder))
    ex = TaggedSentence("s", ["a", "b", "c"], ["NOUN", None, "VERB"])
    (f,) = make_features(task, [ex], tokenizer, FinetuneConfig(), train=True)
    learnt = [(w, lab) for w, lab in zip(f["word_index"], f["labels"], strict=True) if w >= 0]
    ids = {lab: i for i, lab in enumerate(task.labels)}
    assert learnt == [(0, ids["NOUN"]), (1, -100), (2, ids["VERB"])]


@pytest.mark.parametrize("change, message", [({"self_train": {"kk": "one.txt"}}, "a list of text files"),
                                             ({"self_train": {"kk": ["a"]}, "self_train_sentences": 0}, "≥ 1"),
                                             ({"self_train": {"kk": ["a"]}, "self_train_steps": 0}, "≥ 1"),
                                             ({"self_train_min_confidence": 1.0}, r"in \[0, 1\)")])
def test_bad_settings_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        FinetuneConfig(**change)


def test_a_self_trained_tagging_task_end_to_end(tiny_encoder, data_root, tmp_path):
    """On real files: the Kazakh sentences of the data root's LID test file as the pool; the teacher's
    fine-tuning is the one the task runs without self-training (same record), the student starts from it."""
    pool = "$XLING_DATA/lid/lingua_testdata/sentences/kk.txt.xz"
    common = dict(max_steps=2, batch_size=4, max_train_examples=8, max_dev_examples=4)
    plain, st = tmp_path / "plain", tmp_path / "st"
    run_eval(EvalConfig(model=str(tiny_encoder), tasks=["udpos_turkic:kk"], out=str(plain), threads=1,
                        max_eval_examples=4, finetune=FinetuneConfig(**common)))
    run_eval(EvalConfig(model=str(tiny_encoder), tasks=["udpos_turkic:kk"], out=str(st), threads=1,
                        max_eval_examples=4, finetune=FinetuneConfig(**common, self_train={"kk": [pool]},
                                                                     self_train_sentences=5, self_train_steps=3)))
    teacher = read_json(st / "finetune" / "udpos_turkic" / "stage.json")
    assert teacher["fingerprint"] == read_json(plain / "finetune" / "udpos_turkic" / "stage.json")["fingerprint"]
    student = read_json(st / "finetune" / "udpos_turkic" / "self-train" / "stage.json")
    config = student["fingerprint_body"]["config"]
    assert config["train_examples"] == 8 + 5 and student["result"]["steps"] == 3
    assert config["self_train.kk.0"] == pool  # what the pseudo-labelled sentences came from
    # the student's input is the teacher's finished stage, named by its fingerprint
    kind, name, fp = student["fingerprint_body"]["inputs"]["model"].split()
    assert (kind, name) == ("stage", "finetune") and teacher["fingerprint"].startswith(fp)
    ft = read_json(st / "results.json")["details"]["udpos_turkic"]["finetune"]
    kk = ft["self_train"]["languages"]["kk"]
    assert kk["kept"] == 5 and kk["read"]["lines"] == 1000 and kk["read"]["kept"] == kk["pool"]
    assert ft["self_train"]["steps"] == 3
    assert ft["selection"] == ("self-training: the tagger selected so (best on the source language's dev set (en)) "
                               "tagged unlabelled kk text, then 3 more steps on the source set plus the 5 sentences "
                               "per language it was surest of; the last model kept")
    # the predictions are the student's: they differ from the plain run's only through its 3 more steps
    assert (st / "predictions" / "udpos_turkic" / "kk.jsonl").is_file()


def test_no_held_out_uyghur_sentence_enters_the_pool(data_root):
    """Common Voice's Uyghur sentence list (the demo's Uyghur pretraining text) holds hundreds of the
    Uyghur-UDT dev/test sentences; the held-out tagging sets keep every one of them out of the pool."""
    from eval_xtreme.loaders import load_split
    from eval_xtreme.runner import held_out_tagging_sentences
    from eval_xtreme.tasks import TASKS

    held = OverlapIndex.of(held_out_tagging_sentences(data_root))
    pool, stats = read_pool("ug", ["$XLING_DATA/mono/ug/common_voice/sentence-collector.txt.xz"], held, 42)
    assert stats["lines"] == 11279 and stats["overlap"] > 300
    test, _ = load_split(TASKS.get("udpos_turkic"), "test", "ug")
    # compared independently of the index's key: letters and digits only, every space and mark dropped
    # (UDT spaces hyphens, "ئاتا - ئانىسى", where the sentence list writes "ئاتا-ئانىسى")
    def letters(tokens: list[str]) -> str:
        return "".join(c for c in "".join(tokens).casefold() if c.isalnum())

    gold = {letters(ex.tokens) for ex in test}
    assert not any(letters(ex.tokens) in gold for ex in pool)


def test_the_student_rewrites_source_words_only(tmp_path, monkeypatch):
    """With `script_augment` and a Latin view together, the student's source sentences get the teacher's
    rewrites into Kazakh letters, and the pseudo-tagged Uyghur sentences stay as the tagger read them (in
    the Latin view): rewriting their Latin words would undo the view."""
    import eval_xtreme.runner as runner
    from eval_xtreme.finetune import FinetuneResult
    from eval_xtreme.tasks import TASKS

    pool = tmp_path / "ug.txt"
    pool.write_text("مەن كىتاب ئوقۇدۇم .\nبۈگۈن ھاۋا ياخشى .\n", encoding="utf-8")

    class Net:
        def to(self, device):
            return self

    seen: dict = {}

    def fake_predict(task, net, tokenizer, examples, fcfg, confidence=False):
        seen["tagged"] = [list(ex.tokens) for ex in examples]
        return [(["NOUN"] * len(ex.tokens), [0.9] * len(ex.tokens)) for ex in examples]

    def fake_finetune(task, model, train, dev, run_dir, fcfg, lang):
        seen["train"], seen["cfg"] = [list(ex.tokens) for ex in train], fcfg
        return FinetuneResult(run_dir, {}, 0.0, fcfg.max_steps, 0)

    monkeypatch.setattr(runner, "load_model", lambda task, path: (None, Net()))
    monkeypatch.setattr(runner, "predict", fake_predict)
    monkeypatch.setattr(runner, "finetune", fake_finetune)
    task = TASKS.get("udpos_turkic_tr")
    fcfg = FinetuneConfig(self_train={"ug": [str(pool)]}, self_train_sentences=2, self_train_steps=3,
                          script_augment={"kk": 1.0})
    teacher = FinetuneResult(tmp_path / "teacher", {}, 0.0, 10, 0)
    source = [TaggedSentence("s1", ["Kitap", "okudum", "."], ["NOUN", "VERB", "PUNCT"])]
    cfg = EvalConfig(model="unused", view=["ug"])
    runner._self_train(task, teacher, source, [], OverlapIndex(), cfg, fcfg, tmp_path / "student")
    # ULY, the Latin view the tagger read the pool in
    assert seen["tagged"] == [["men", "kitab", "oqudum", "."], ["bügün", "hawa", "yaxshi", "."]]
    assert seen["train"][0] == ["Китап", "окудум", "."]  # every Latin source word in Kazakh letters (share 1)
    assert seen["train"][1:] == seen["tagged"]  # the pseudo-tagged sentences as read
    assert seen["cfg"].script_augment == {} and seen["cfg"].max_steps == 3
