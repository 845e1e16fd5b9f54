"""User task files: a retrieval task from two line-aligned files and a tagging task from CoNLL-U / IOB2,
run by `xling eval run --task-file` like registered tasks (baselines and report included)."""

from __future__ import annotations

import pytest

from eval_xtreme.baselines import CHAR_NGRAM, MFT
from eval_xtreme.user_tasks import TaskFileError, load_task_file
from xling.cli import main
from xling.core.io import read_json, read_lines

CONLLU = """# sent_id = {i}
1\t{a}\t_\t{ta}\t_\t_\t0\troot\t_\t_
2\t{b}\t_\t{tb}\t_\t_\t1\tdep\t_\t_

"""


def _conllu(path, rows):
    path.write_text("".join(CONLLU.format(i=i, a=a, ta=ta, b=b, tb=tb) for i, (a, ta, b, tb) in enumerate(rows)),
                    encoding="utf-8")


@pytest.fixture
def task_file(tmp_path, data_root):
    # Retrieval: the first 40 X-WMT kk-ru lines (real text) as the user's own held-out pair.
    kk = read_lines(data_root / "parallel/xwmt/kk-ru/kk-ru.kk.xz")[:40]
    ru = read_lines(data_root / "parallel/xwmt/kk-ru/kk-ru.ru.xz")[:40]
    (tmp_path / "a.kk").write_text("\n".join(kk) + "\n", encoding="utf-8")
    (tmp_path / "a.ru").write_text("\n".join(ru) + "\n", encoding="utf-8")
    _conllu(tmp_path / "train.conllu", [("kitap", "NOUN", "oqudum", "VERB"), ("ev", "NOUN", "gördüm", "VERB")] * 8)
    _conllu(tmp_path / "dev.conllu", [("kitap", "NOUN", "gördüm", "VERB")] * 4)
    _conllu(tmp_path / "kk.conllu", [("kitap", "NOUN", "oqudum", "VERB"), ("ev", "NOUN", "jazdym", "VERB")])
    (tmp_path / "kk.iob2").write_text("Astana B-LOC\nqalasy O\n\nAbai B-PER\n\n", encoding="utf-8")
    (tmp_path / "tr.iob2").write_text("Ankara B-LOC\nşehri O\n\nAhmet B-PER\ngeldi O\n\n", encoding="utf-8")
    f = tmp_path / "tasks.yaml"
    f.write_text("""
tasks:
  - name: my_kk_ru
    kind: retrieval
    test:
      kk: {source: a.kk, target: a.ru}
  - name: my_pos
    kind: token_classification
    format: conllu
    source_language: tr
    train: train.conllu
    dev: dev.conllu
    test: {kk: kk.conllu}
  - name: my_ner
    kind: token_classification
    format: iob2
    train: tr.iob2
    dev: tr.iob2
    test: {kk: kk.iob2}
""", encoding="utf-8")
    return f


def test_task_file_defines_tasks(task_file):
    ret, pos, ner = load_task_file(task_file)
    assert (ret.kind, ret.languages, ret.metric) == ("retrieval", ("kk",), "retrieval_accuracy")
    assert (pos.train_lang, pos.metric, ner.metric) == ("tr", "pos_accuracy", "seqeval_f1")
    assert load_task_file(task_file)[0] is ret  # loading the same file again is fine


@pytest.mark.parametrize("body,named", [
    ("tasks: [{name: x1, kind: qa, test: {kk: a.kk}}]", "kind"),
    ("tasks: [{name: x2, kind: retrieval, test: {kk: {source: a.kk, target: missing.ru}}}]", "missing.ru"),
    ("tasks: [{name: x3, kind: token_classification, test: {kk: kk.conllu}}]", "needs `train`"),
    ("tasks: [{name: x4, kind: retrieval, metric: f1, test: {kk: {source: a.kk, target: a.ru}}}]", "metric"),
    ("tasks: [{name: x5, kind: retrieval, colour: red, test: {}}]", "colour"),
    ("tasks: [{name: udpos, kind: retrieval, test: {kk: {source: a.kk, target: a.ru}}}]", "built-in task"),
])
def test_bad_task_files_name_the_problem(task_file, body, named):
    bad = task_file.parent / "bad.yaml"
    bad.write_text(body, encoding="utf-8")
    with pytest.raises(TaskFileError, match=named) as e:
        load_task_file(bad)
    assert str(bad) in str(e.value)


def test_eval_run_with_task_file(task_file, tiny_encoder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["eval", "run", "--model", str(tiny_encoder), "--task-file", str(task_file), "--out", str(out),
                 "--max-steps", "1", "--threads", "1", "--set", "finetune.batch_size=4"]) == 0
    results = read_json(out / "results.json")
    assert list(results["tasks"]) == ["my_kk_ru", "my_pos", "my_ner"]
    assert 0 <= results["tasks"]["my_kk_ru"]["kk"]["accuracy"] <= 100
    # The most-frequent-tag baseline learned from the user's Turkish-style train file: kitap NOUN,
    # oqudum VERB; "jazdym" is unseen and its suffixes ("m", "ym", ...) back off to VERB
    # ("m" ends oqudum/gördüm, VERB ×16), "ev" NOUN → 4 of 4 tags right.
    assert results["baselines"][MFT]["my_pos"]["kk"]["accuracy"] == pytest.approx(100.0)
    assert CHAR_NGRAM in results["baselines"] and "my_ner" in results["baselines"][MFT]
    assert "my_pos" in (out / "report.md").read_text(encoding="utf-8")
    assert "baseline:mft: kk=100.0" in capsys.readouterr().out
    # the Turkish-trained tagger was selected on the Turkish dev file, and its record says so
    assert results["details"]["my_pos"]["finetune"]["selection"] == "best on the source language's dev set (tr)"
