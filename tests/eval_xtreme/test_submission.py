"""Submission writer and validator: formats per task, round trip on real test sets, every problem."""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import pytest

from eval_xtreme import metrics as M
from eval_xtreme import submission as S
from eval_xtreme.loaders import load_split
from eval_xtreme.retrieval import reverse_gold
from eval_xtreme.tasks import get_task
from xling.core.io import read_json


def write_preds(out: Path, task: str, lang: str, records: list[dict]) -> None:
    p = out / "predictions" / task / f"{lang}.jsonl"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Formats (XTREME mock_test_data/predictions)


def test_formats_per_task_kind(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    assert S.format_predictions(get_task("xnli"), [{"id": "1", "prediction": "neutral"},
                                                   {"id": "2", "prediction": "entailment"}], p) == "neutral\nentailment\n"
    tags = [{"id": "s1", "prediction": ["B-PER", "I-PER"]}, {"id": "s2", "prediction": ["O"]}]
    assert S.format_predictions(get_task("panx"), tags, p) == "B-PER\nI-PER\n\nO\n"
    qa = S.format_predictions(get_task("xquad"), [{"id": "q1", "prediction": "Берлин"}], p)
    assert json.loads(qa) == {"q1": "Берлин"} and "Берлин" in qa
    bucc = [{"id": "de-000001", "prediction": "en-000007"}, {"id": "de-000002", "prediction": None},
            {"id": "de-000003", "prediction": ["en-000001", "en-000002"]}]
    assert S.format_predictions(get_task("bucc2018"), bucc, p) == (
        "de-000001\ten-000007\nde-000003\ten-000001\nde-000003\ten-000002\n")
    en_xx = [{"id": "en-0", "query": "target", "prediction": 3}, {"id": "en-1", "query": "target", "prediction": 0}]
    assert S.format_predictions(get_task("tatoeba"), en_xx, p) == "3\n0\n"
    xx_en = [{"id": "0", "query": "source", "prediction": 1}]
    assert S.format_predictions(get_task("tatoeba_turkic"), xx_en, p) == "1\n"


def test_bad_predictions_name_file_and_record(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    with pytest.raises(ValueError, match="record 1: label 'a\\\\tb'"):
        S.format_predictions(get_task("xnli"), [{"id": "1", "prediction": "a\tb"}], p)
    with pytest.raises(ValueError, match="non-negative integer"):
        S.format_predictions(get_task("tatoeba"), [{"id": "0", "query": "target", "prediction": "3"}], p)
    p.write_text('{"id": "1", "prediction": "x"}\n{"id": 2\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"x\.jsonl:2: malformed JSON"):
        S.read_predictions(p)
    p.write_text('{"id": "1"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"x\.jsonl:1: .*'prediction'"):
        S.read_predictions(p)
    with pytest.raises(FileNotFoundError, match="xling eval run"):
        S.write_submission(tmp_path / "nothing", tmp_path / "sub")


# ---------------------------------------------------------------------------------------------
# Round trip on real test sets


@pytest.fixture
def gold_run(tmp_path: Path) -> Path:
    """An eval-run folder whose predictions are the gold answers (tatoeba kk, xquad de, udpos kk)."""
    out = tmp_path / "run"
    rs, _ = load_split(get_task("tatoeba"), "test", "kk")
    write_preds(out, "tatoeba", "kk", [{"id": f"en-{k}", "query": "target", "prediction": g}
                                       for k, g in enumerate(reverse_gold(rs.gold, len(rs.target)))])
    qa, _ = load_split(get_task("xquad"), "test", "de")
    write_preds(out, "xquad", "de", [{"id": ex.id, "prediction": ex.answers[0]} for ex in qa])
    ud, _ = load_split(get_task("udpos"), "test", "kk")
    write_preds(out, "udpos", "kk", [{"id": s.id, "prediction": s.tags} for s in ud])
    return out


def read_tag_file(path: Path) -> list[list[str]]:
    # XTREME evaluate.py read_tag: blank lines separate sentences.
    sentences, cur = [], []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            cur.append(line.strip())
        elif cur:
            sentences.append(cur)
            cur = []
    if cur:
        sentences.append(cur)
    return sentences


def test_submit_round_trip_scores_100_and_validates(gold_run: Path, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    res = S.write_submission(gold_run, sub)
    assert {p.relative_to(sub).as_posix() for p in res.files} == {"tatoeba/test-kk.tsv", "xquad/test-de.json",
                                                                  "udpos/test-kk.tsv"}
    assert "xnli/ar" in res.missing
    # Tatoeba: one line per sorted English sentence, holding the LASER line number of its source.
    lines = [int(x) for x in (sub / "tatoeba/test-kk.tsv").read_text().split()]
    assert lines == laser_lines_of_sorted_english("kaz")
    # XQuAD: the JSON scores 100 with the official normalisation.
    qa, _ = load_split(get_task("xquad"), "test", "de")
    answers = read_json(sub / "xquad/test-de.json")
    assert M.squad_em_f1(answers, {ex.id: ex.answers for ex in qa}) == {"exact_match": 100.0, "f1": 100.0}
    # UD-POS: sentence structure survives.
    ud, _ = load_split(get_task("udpos"), "test", "kk")
    tags = read_tag_file(sub / "udpos/test-kk.tsv")
    assert len(tags) == len(ud) == 1047
    assert M.pos_accuracy(tags, [s.tags for s in ud]) == {"accuracy": 100.0, "f1": 100.0, "precision": 100.0,
                                                          "recall": 100.0}
    rep = S.validate_submission(sub, partial=True)
    assert rep.ok, [str(p) for p in rep.problems]
    assert sorted(rep.against_test_set) == ["tatoeba/kk", "udpos/kk", "xquad/de"]
    full = S.validate_submission(sub)
    assert not full.ok and any("missing task folder for xnli" in str(p) for p in full.problems)


def test_zip_is_deterministic(gold_run: Path, tmp_path: Path) -> None:
    a = S.write_submission(gold_run, tmp_path / "a" / "sub")
    b = S.write_submission(gold_run, tmp_path / "b" / "sub")
    assert a.zip_path is not None and b.zip_path is not None
    assert a.zip_path.read_bytes() == b.zip_path.read_bytes()
    with zipfile.ZipFile(a.zip_path) as zf:
        assert sorted(zf.namelist()) == ["sub/tatoeba/test-kk.tsv", "sub/udpos/test-kk.tsv", "sub/xquad/test-de.json"]


def laser_lines_of_sorted_english(lang3: str) -> list[int]:
    """XTREME's Tatoeba gold, built here from the LASER file: sorted English line k → its LASER line."""
    from xling.core.paths import data_path

    with open(data_path(f"tatoeba/tatoeba.{lang3}-eng.eng"), encoding="utf-8") as f:
        english = [line.strip() for line in f]
    return [i for _, i in sorted(zip(english, range(len(english)), strict=True), key=lambda x: x[0])]


def test_tatoeba_xx_en_predictions_are_refused(tmp_path: Path) -> None:
    # What xling wrote before en → xx search: one English index per source sentence.
    out = tmp_path / "run"
    write_preds(out, "tatoeba", "kk", [{"id": str(i), "prediction": i} for i in range(575)])
    with pytest.raises(ValueError, match="one source index per sorted English sentence"):
        S.write_submission(out, tmp_path / "sub", tasks=["tatoeba"], make_zip=False)


def test_validate_flags_a_tatoeba_file_written_the_wrong_way_round(tmp_path: Path) -> None:
    gold = laser_lines_of_sorted_english("kaz")
    inverse = [0] * len(gold)  # position of each LASER line in the sorted English file
    for k, i in enumerate(gold):
        inverse[i] = k
    for name, lines, ok in (("right", gold, True), ("inverse", inverse, False)):
        sub = tmp_path / name
        (sub / "tatoeba").mkdir(parents=True)
        (sub / "tatoeba" / "test-kk.tsv").write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
        rep = S.validate_submission(sub, tasks=["tatoeba"], partial=True)
        assert rep.ok == ok, [str(p) for p in rep.problems]
    assert "wrong direction: 575 of 575 lines match the gold read the other way round but only 3" \
        in str(rep.problems[0])


# ---------------------------------------------------------------------------------------------
# Validation reports every problem


def test_validate_reports_every_problem(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    (sub / "xnli").mkdir(parents=True)
    (sub / "xnli" / "test-de.tsv").write_text("neutral\n\nmaybe\n", encoding="utf-8")
    (sub / "xnli" / "test-xx.tsv").write_text("neutral\n", encoding="utf-8")
    (sub / "udpos").mkdir()
    (sub / "udpos" / "test-kk.tsv").write_text("NOUN\nVERBX\n\nPUNCT\n", encoding="utf-8")
    (sub / "xquad").mkdir()
    (sub / "xquad" / "test-de.json").write_text("{not json", encoding="utf-8")
    (sub / "tatoeba").mkdir()
    (sub / "tatoeba" / "test-kk.tsv").write_text("1\nx\n9999\n", encoding="utf-8")
    (sub / "bucc2018").mkdir()
    (sub / "bucc2018" / "test-de.tsv").write_text("de-1\ten-1\nde-1\ten-1\nfr-2 en-2\nde-3\tzh-3\n",
                                                   encoding="utf-8")
    (sub / "notes.txt").write_text("hi", encoding="utf-8")
    rep = S.validate_submission(sub, tasks=["xnli", "udpos", "xquad", "tatoeba", "bucc2018"], partial=True)
    text = "\n".join(map(str, rep.problems))
    expected = [
        "notes.txt: unexpected entry",
        "xnli/test-de.tsv:2: blank line",
        "xnli/test-de.tsv:3: label 'maybe' is not one of contradiction, entailment, neutral",
        "xnli/test-de.tsv: 3 lines but the test set has 5010 examples",
        "xnli/test-xx.tsv: unexpected file (language 'xx' is not a xnli test language)",
        "udpos/test-kk.tsv:2: tag 'VERBX' is not one of",
        "udpos/test-kk.tsv: 2 sentences but the test set has 1047",
        "udpos/test-kk.tsv: sentence 1 has 2 tags but",
        "udpos/test-kk.tsv: sentence 2 has 1 tags but",
        "xquad/test-de.json:1: not valid JSON",
        "tatoeba/test-kk.tsv:2: expected a non-negative integer index, got 'x'",
        "tatoeba/test-kk.tsv:3: index 9999 is past the 575 source sentences",
        "tatoeba/test-kk.tsv: 3 lines but the test set has 575 sorted English sentences",
        "bucc2018/test-de.tsv:2: duplicate pair",
        "bucc2018/test-de.tsv:3: expected '<de id>\\t<en id>'",
        "bucc2018/test-de.tsv:4: target id 'zh-3' should start with 'en-'",
    ]
    for e in expected:
        assert e in text, f"missing problem: {e}\n{text}"
    assert len(rep.problems) == len(expected)
    assert "bucc2018/de: counts not checked: test set not in the data root" in rep.notes


def test_validate_missing_and_wrong_json(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    (sub / "xquad").mkdir(parents=True)
    (sub / "xquad" / "test-de.json").write_text(json.dumps({"nope": 1}), encoding="utf-8")
    rep = S.validate_submission(sub, tasks=["xquad"])
    text = "\n".join(map(str, rep.problems))
    assert "answer for 'nope' is int, not a string" in text
    assert "1190 of 1190 test questions have no answer" in text
    assert "1 ids are not test questions" in text
    assert "xquad/test-en.json: missing prediction file for xquad/en" in text
    assert S.validate_submission(tmp_path / "absent").problems[0].message == "submission folder does not exist"


def test_problems_per_file_are_capped(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    (sub / "pawsx").mkdir(parents=True)
    (sub / "pawsx" / "test-de.tsv").write_text("2\n" * 50, encoding="utf-8")
    rep = S.validate_submission(sub, tasks=["pawsx"], partial=True, check_test_sets=False)
    assert len(rep.problems) == S.MAX_PROBLEMS_PER_FILE + 1
    assert "and 30 more problems" in str(rep.problems[-1])


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_submit_and_validate(gold_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser(prog="xling eval")
    S.register(parser.add_subparsers(dest="eval_command", required=True))
    sub = tmp_path / "sub"
    args = parser.parse_args(["submit", str(gold_run), "--to", str(sub)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"wrote 3 prediction files to {sub}" in out and f"{sub}.zip" in out
    args = parser.parse_args(["validate", str(sub), "--partial"])
    assert args.func(args) == 0
    assert "OK" in capsys.readouterr().out
    args = parser.parse_args(["validate", str(sub)])
    assert args.func(args) == 1
    assert "missing task folder for mlqa" in capsys.readouterr().out


def test_submit_and_validate_do_not_load_torch(gold_run: Path, tmp_path: Path) -> None:
    """Writing and checking a submission is file work: through the real CLI it must not import torch or
    transformers (seconds of start-up, and a machine that only packages results may not have them)."""
    import subprocess
    import sys

    sub = tmp_path / "sub"
    code = ("import json, sys\n"
            "from xling.cli import main\n"
            "rcs = [main(['eval', 'submit', sys.argv[1], '--to', sys.argv[2]]),\n"
            "       main(['eval', 'validate', sys.argv[2], '--partial'])]\n"
            "heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
            "print(json.dumps({'rcs': rcs, 'heavy': heavy}))\n")
    done = subprocess.run([sys.executable, "-c", code, str(gold_run), str(sub)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    assert got == {"rcs": [0, 0], "heavy": []}
