"""XTREME leaderboard submissions: write them from an eval run, and validate them.

Layout (google-research/xtreme README, "Leaderboard Submission", and `mock_test_data/predictions`):
`DIR/<task>/test-<lang>.<ext>` for the nine tasks, `<lang>` the two-letter code, `<ext>` `json`
for QA and `tsv` otherwise. Per task, what `evaluate.py` reads:

- xnli, pawsx: one label per line (`read_label`: every line is one example, blank ones too);
- udpos, panx: one tag per line, a blank line between sentences (`read_tag`);
- xquad, mlqa, tydiqa: one JSON object `{question id: answer text}` (`read_squad`);
- bucc2018: one mined pair `<src id>\\t<en id>` per line, order irrelevant (compared as sets);
- tatoeba: one integer per line of XTREME's *sorted* English file (`utils_preprocess.py --task
  tatoeba` sorts the English side), the index of its translation among the source sentences:
  XTREME searches from English to the source side (`utils_retrieve.similarity_search`), and the
  gold `labels/tatoeba/test-<lang>.tsv` holds, for sorted English line k, the LASER line number
  of that English sentence.

`write_submission` converts the per-example predictions of `xling eval run`
(`OUT/predictions/<task>/<lang>.jsonl`, records `{"id", "prediction", "gold"?}` in test-set
order) into that layout plus a zip; `validate_submission` checks a folder against the task
registry and, where the test sets are in the data root, against them, and returns every problem;
`score_submission` scores a folder against gold label files in the same layout (e.g. XTREME's
`mock_test_data/labels`) with xling's metrics and the leaderboard aggregate.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xling.io import atomic_path, open_text

from .tasks import TASKS, Task

MAX_PROBLEMS_PER_FILE = 20  # beyond this a file's problems are summarised as a count
_TEST_FILE = re.compile(r"^test-(?P<lang>[A-Za-z-]+)\.(?P<ext>tsv|json)$")


def extension(task: Task) -> str:
    return "json" if task.kind == "qa" else "tsv"


def submission_path(root: str | os.PathLike, task: Task, lang: str) -> Path:
    return Path(root) / task.name / f"test-{lang}.{extension(task)}"


def xtreme_tasks() -> list[Task]:
    return [t for _, t in TASKS.items() if t.xtreme]


# ---------------------------------------------------------------------------------------------
# Writing


@dataclass
class SubmissionResult:
    folder: Path
    zip_path: Path | None
    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "task/lang" with no predictions in OUT
    notes: list[str] = field(default_factory=list)


def predictions_file(out_dir: str | os.PathLike, task: str, lang: str) -> Path | None:
    base = Path(out_dir) / "predictions" / task
    for name in (f"{lang}.jsonl", f"{lang}.jsonl.gz"):
        if (base / name).is_file():
            return base / name
    return None


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Prediction records; each must have `id` and `prediction` (errors name file and line)."""
    records = []
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: malformed JSON line ({e.msg})") from None
            if not isinstance(rec, dict) or "id" not in rec or "prediction" not in rec:
                raise ValueError(f"{path}:{lineno}: a prediction record needs the fields 'id' and 'prediction'")
            records.append(rec)
    return records


def _one_line(value: Any, path: Path, rec_no: int, what: str) -> str:
    text = str(value)
    if "\n" in text or "\r" in text or "\t" in text or not text.strip():
        raise ValueError(f"{path}: record {rec_no}: {what} {text!r} is empty or contains a tab/newline; "
                         "it cannot be written as one line")
    return text


def format_predictions(task: Task, records: Sequence[dict[str, Any]], path: Path) -> str:
    """The submission file's text for one task/language from prediction records."""
    if task.kind == "classification":
        return "".join(_one_line(r["prediction"], path, i, "label") + "\n" for i, r in enumerate(records, 1))
    if task.kind == "token_classification":
        sentences = []
        for i, r in enumerate(records, 1):
            tags = r["prediction"]
            if not isinstance(tags, list):
                raise ValueError(f"{path}: record {i}: a tagging prediction must be a list of tags")
            sentences.append("".join(_one_line(t, path, i, "tag") + "\n" for t in tags))
        return "\n".join(sentences)
    if task.kind == "qa":
        answers: dict[str, str] = {}
        for i, r in enumerate(records, 1):
            if not isinstance(r["prediction"], str):
                raise ValueError(f"{path}: record {i}: a QA prediction must be the answer text")
            answers[str(r["id"])] = r["prediction"]
        return json.dumps(answers, ensure_ascii=False, indent=2) + "\n"
    if task.name.startswith("bucc"):
        lines = []
        for i, r in enumerate(records, 1):
            targets = r["prediction"]
            if targets is None:
                continue  # below the mining threshold: no pair for this source sentence
            for tgt in targets if isinstance(targets, list) else [targets]:
                lines.append(f"{_one_line(r['id'], path, i, 'source id')}\t{_one_line(tgt, path, i, 'target id')}\n")
        return "".join(lines)
    # Tatoeba-style retrieval: one index per query sentence, in the query side's order.
    _check_query_side(task, records, path)
    out = []
    for i, r in enumerate(records, 1):
        pred = r["prediction"]
        if isinstance(pred, bool) or not isinstance(pred, int) or pred < 0:
            raise ValueError(f"{path}: record {i}: a retrieval prediction must be a non-negative integer index")
        out.append(f"{pred}\n")
    return "".join(out)


def _check_query_side(task: Task, records: Sequence[dict[str, Any]], path: Path) -> None:
    """Refuse records searched in the other direction than the task's submission layout."""
    want = task.retrieval_query
    sides = {r.get("query", "source") for r in records}  # records without `query` predate en → xx search
    if sides and sides != {want}:
        got = "/".join(sorted(sides))
        if want == "target":
            raise ValueError(f"{path}: these predictions are one English index per source sentence (query side "
                             f"{got}, xx → en), but {task.name} submissions hold one source index per sorted "
                             "English sentence (en → xx, as XTREME searches); re-run `xling eval run` for "
                             f"{task.name} with this version to get them")
        raise ValueError(f"{path}: these predictions have query side {got}; {task.name} expects {want}")


def _write_zip(folder: Path, zip_path: Path) -> None:
    # Fixed timestamps and sorted names: the same predictions give a byte-identical zip.
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(f.relative_to(folder.parent)), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, f.read_bytes())


def _run_max_eval(out: Path) -> int:
    """`max_eval_examples` of the eval run in `out`, from its results.json (0 when unknown)."""
    try:
        cfg = json.loads((out / "results.json").read_text(encoding="utf-8")).get("config", {})
        return int(cfg.get("max_eval_examples") or 0)
    except (OSError, ValueError, AttributeError, TypeError):
        return 0


def write_submission(out_dir: str | os.PathLike, to: str | os.PathLike, tasks: Iterable[str] | None = None,
                     include_suite: bool = False, make_zip: bool = True) -> SubmissionResult:
    """Write `to/<task>/test-<lang>.{tsv,json}` (atomically, as one folder) and `to.zip`.

    By default the nine XTREME tasks are written (what the leaderboard takes); `include_suite`
    adds our own tasks in the same per-kind formats. Languages without predictions in `out_dir`
    are listed in `missing`, not invented.
    """
    out = Path(out_dir)
    if not (out / "predictions").is_dir():
        raise FileNotFoundError(f"{out}/predictions does not exist: is {out} the --out folder of `xling eval run`?")
    if tasks is not None:
        chosen = [TASKS.get(t) for t in tasks]
    else:
        chosen = [t for _, t in TASKS.items() if t.xtreme or include_suite]
    target = Path(to)
    result = SubmissionResult(folder=target, zip_path=None)
    max_eval = _run_max_eval(out)
    if max_eval:
        result.notes.append(f"the run scored only the first {max_eval} test examples per language "
                            "(max_eval_examples): its files are too short for the leaderboard")
    with atomic_path(target) as tmp:
        tmp.mkdir(parents=True)
        for task in chosen:
            for lang in task.languages:
                pred_path = predictions_file(out, task.name, lang)
                if pred_path is None:
                    result.missing.append(f"{task.name}/{lang}")
                    continue
                records = read_predictions(pred_path)
                dest = submission_path(tmp, task, lang)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(format_predictions(task, records, pred_path), encoding="utf-8")
                result.files.append(submission_path(target, task, lang))
    if make_zip:
        result.zip_path = target.with_name(target.name + ".zip")
        _write_zip(target, result.zip_path)
    return result


# ---------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


@dataclass
class ValidationReport:
    folder: Path
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # files whose format was checked
    against_test_set: list[str] = field(default_factory=list)  # ... and also against the local test set
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Collector:
    """Problems of one file, capped so that a wholly wrong file doesn't flood the report."""

    def __init__(self, report: ValidationReport, path: Path) -> None:
        self.report, self.path, self.n = report, str(path), 0

    def add(self, line: int | None, message: str) -> None:
        self.n += 1
        if self.n <= MAX_PROBLEMS_PER_FILE:
            self.report.problems.append(Problem(self.path, line, message))

    def close(self) -> None:
        if self.n > MAX_PROBLEMS_PER_FILE:
            self.report.problems.append(Problem(self.path, None, f"... and {self.n - MAX_PROBLEMS_PER_FILE} "
                                                "more problems in this file"))


@dataclass
class _Reference:
    """What the local test set says a submission file must contain."""

    n_examples: int | None = None
    sentence_lengths: list[int] | None = None
    qa_ids: set[str] | None = None
    n_targets: int | None = None  # retrieval: how many sentences an index may point at
    gold: list[int] | None = None  # retrieval: the gold index of each line
    other_way: list[int] | None = None  # ... and of each query of the opposite direction
    source_ids: set[str] | None = None
    target_ids: set[str] | None = None


def _reference(task: Task, lang: str, root: str | os.PathLike | None) -> tuple[_Reference | None, str]:
    from .loaders import load_split

    try:
        data, df = load_split(task, "test", lang, root, allow_fixtures=False)
    except FileNotFoundError:
        return None, "test set not in the data root"
    except ValueError as e:
        return None, f"test set unreadable ({e})"
    if df.substitute:
        return None, f"only a substitute test set is available ({df.substitute})"
    if task.kind == "qa":
        return _Reference(n_examples=len(data), qa_ids={str(x.id) for x in data}), ""
    if task.kind == "token_classification":
        return _Reference(n_examples=len(data), sentence_lengths=[len(s.tokens) for s in data]), ""
    if task.kind == "classification":
        return _Reference(n_examples=len(data)), ""
    if task.name.startswith("bucc"):
        return _Reference(source_ids=set(data.source), target_ids=set(data.target)), ""
    from .retrieval import reverse_gold

    # Tatoeba: lines follow the query side (XTREME: sorted English), indices point into the other.
    english_gold = reverse_gold(data.gold, len(data.target)) if data.gold is not None else None
    if task.retrieval_query == "target":
        return _Reference(n_examples=len(data.target), n_targets=len(data.source), gold=english_gold,
                          other_way=data.gold), ""
    return _Reference(n_examples=len(data.source), n_targets=len(data.target), gold=data.gold,
                      other_way=english_gold), ""


def _check_lines(col: _Collector, text: str, task: Task, lang: str, ref: _Reference | None) -> None:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    labels = set(task.labels)
    if task.kind == "classification":
        for i, line in enumerate(lines, 1):
            value = line.strip()
            if not value:
                col.add(i, "blank line (every line is one example's label)")
            elif labels and value not in labels:
                col.add(i, f"label {value!r} is not one of {', '.join(task.labels)}")
        if ref and ref.n_examples is not None and len(lines) != ref.n_examples:
            col.add(None, f"{len(lines)} lines but the test set has {ref.n_examples} examples")
    elif task.name.startswith("bucc"):
        seen: set[tuple[str, str]] = set()
        for i, line in enumerate(lines, 1):
            cols = line.strip().split("\t")
            if len(cols) != 2 or not all(cols):
                col.add(i, f"expected '<{lang} id>\\t<en id>', got {line!r}")
                continue
            src, tgt = cols
            if not src.startswith(f"{lang}-"):
                col.add(i, f"source id {src!r} should start with '{lang}-'")
            if not tgt.startswith("en-"):
                col.add(i, f"target id {tgt!r} should start with 'en-'")
            if (src, tgt) in seen:
                col.add(i, f"duplicate pair {src}\\t{tgt} (pairs are scored as a set)")
            seen.add((src, tgt))
            if ref and ref.source_ids is not None and src not in ref.source_ids:
                col.add(i, f"source id {src!r} is not in the test set")
            if ref and ref.target_ids is not None and tgt not in ref.target_ids:
                col.add(i, f"target id {tgt!r} is not in the test set")
    else:  # tatoeba-style: one index per line
        query = task.retrieval_query
        lines_are = "sorted English sentences" if query == "target" else "source sentences"
        points_at = "source sentences" if query == "target" else "English sentences"
        values: list[int] = []
        for i, line in enumerate(lines, 1):
            value = line.strip()
            if not re.fullmatch(r"\d+", value):
                col.add(i, f"expected a non-negative integer index, got {line!r}")
                continue
            values.append(int(value))
            if ref and ref.n_targets is not None and int(value) >= ref.n_targets:
                col.add(i, f"index {value} is past the {ref.n_targets} {points_at}")
        if ref and ref.n_examples is not None and len(lines) != ref.n_examples:
            col.add(None, f"{len(lines)} lines but the test set has {ref.n_examples} {lines_are}")
        elif ref and ref.gold is not None and ref.other_way is not None and len(values) == len(lines):
            _check_direction(col, values, ref.gold, ref.other_way, lines_are, points_at)


def _check_direction(col: _Collector, values: list[int], gold: list[int], other_way: list[int],
                     lines_are: str, points_at: str) -> None:
    """Catch a file written in the opposite direction: its lines match the other way's gold.

    Counts alone cannot tell (Tatoeba pairs are one to one), but the local gold can: a file whose
    lines agree with the opposite direction's gold far more often than with this one's was
    searched (or written) the wrong way round, and would score about 0 on the leaderboard.
    """
    if len(values) != len(other_way):
        return
    this = sum(v == g for v, g in zip(values, gold, strict=True))
    other = sum(v == g for v, g in zip(values, other_way, strict=True))
    if other > 2 * this and other >= max(5, len(values) // 10):
        col.add(None, f"wrong direction: {other} of {len(values)} lines match the gold read the other way "
                f"round but only {this} as the leaderboard reads them; each line must be one of the {lines_are} "
                f"in order, holding the index of its translation among the {points_at}")


def _check_tags(col: _Collector, text: str, task: Task, ref: _Reference | None) -> None:
    labels = set(task.labels)
    sentences: list[int] = []
    current = 0
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines, 1):
        tag = line.strip()
        if not tag:
            sentences.append(current)
            current = 0
            continue
        current += 1
        if labels and tag not in labels:
            col.add(i, f"tag {tag!r} is not one of {', '.join(task.labels)}")
    if current:
        sentences.append(current)
    if ref is None or ref.sentence_lengths is None:
        return
    if len(sentences) != len(ref.sentence_lengths):
        col.add(None, f"{len(sentences)} sentences but the test set has {len(ref.sentence_lengths)}")
    for k, (got, want) in enumerate(zip(sentences, ref.sentence_lengths, strict=False), 1):
        if got != want:
            col.add(None, f"sentence {k} has {got} tags but {want} tokens in the test set")


def _check_json(col: _Collector, text: str, ref: _Reference | None) -> None:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        col.add(e.lineno, f"not valid JSON ({e.msg})")
        return
    if not isinstance(obj, dict):
        col.add(None, "must be one JSON object mapping question id → answer text")
        return
    for qid, answer in obj.items():
        if not isinstance(answer, str):
            col.add(None, f"answer for {qid!r} is {type(answer).__name__}, not a string")
    if ref and ref.qa_ids is not None:
        missing = sorted(ref.qa_ids - obj.keys())
        unknown = sorted(obj.keys() - ref.qa_ids)
        if missing:
            col.add(None, f"{len(missing)} of {len(ref.qa_ids)} test questions have no answer "
                    f"(they score 0), e.g. {', '.join(missing[:3])}")
        if unknown:
            col.add(None, f"{len(unknown)} ids are not test questions, e.g. {', '.join(unknown[:3])}")


def validate_submission(folder: str | os.PathLike, tasks: Iterable[str] | None = None,
                        root: str | os.PathLike | None = None, check_test_sets: bool = True,
                        partial: bool = False) -> ValidationReport:
    """Check every file of a submission folder and return all problems found.

    Checks: the nine task folders (or `tasks`), one file per task language, no stray files,
    UTF-8, per-task format and label set; and, where the test set is in the data root (not a
    fixture or substitute), line/sentence/token counts, question ids and sentence ids.
    `partial` checks only the files present (a CPU run on a few languages): missing tasks and
    languages become notes instead of problems.
    """
    base = Path(folder)
    report = ValidationReport(folder=base)
    if not base.is_dir():
        report.problems.append(Problem(str(base), None, "submission folder does not exist"))
        return report
    chosen = [TASKS.get(t) for t in tasks] if tasks is not None else xtreme_tasks()
    by_name = {t.name: t for t in chosen}
    for entry in sorted(base.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.name not in by_name:
            report.problems.append(Problem(str(entry), None, "unexpected entry: the submission holds one folder "
                                           f"per task ({', '.join(sorted(by_name))})"))
    for task in chosen:
        tdir = base / task.name
        if not tdir.is_dir():
            if partial:
                report.notes.append(f"{task.name}: no task folder (partial check)")
            else:
                report.problems.append(Problem(str(tdir), None, f"missing task folder for {task.name}"))
            continue
        expected = {submission_path(base, task, lang).name: lang for lang in task.languages}
        for f in sorted(tdir.iterdir()):
            if f.name not in expected:
                m = _TEST_FILE.match(f.name)
                why = (f"language {m.group('lang')!r} is not a {task.name} test language" if m
                       else f"name must be test-<lang>.{extension(task)}")
                report.problems.append(Problem(str(f), None, f"unexpected file ({why})"))
        for name, lang in expected.items():
            path = tdir / name
            if not path.is_file():
                if not partial:
                    report.problems.append(Problem(str(path), None,
                                                   f"missing prediction file for {task.name}/{lang}"))
                continue
            _validate_file(report, path, task, lang, root, check_test_sets)
    return report


def _validate_file(report: ValidationReport, path: Path, task: Task, lang: str,
                   root: str | os.PathLike | None, check_test_sets: bool) -> None:
    col = _Collector(report, path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        col.add(None, f"not UTF-8 (byte {e.start})")
        col.close()
        return
    ref = None
    if check_test_sets:
        ref, why = _reference(task, lang, root)
        if ref is None:
            report.notes.append(f"{task.name}/{lang}: counts not checked: {why}")
        else:
            report.against_test_set.append(f"{task.name}/{lang}")
    if task.kind == "qa":
        _check_json(col, text, ref)
    elif task.kind == "token_classification":
        _check_tags(col, text, task, ref)
    else:
        _check_lines(col, text, task, lang, ref)
    col.close()
    report.checked.append(f"{task.name}/{lang}")


# ---------------------------------------------------------------------------------------------
# CLI (added to the `xling eval` group by eval_xtreme.cli)


def add_cli(group: Any) -> None:
    p = group.add_parser("submit", help="write an XTREME leaderboard submission from an eval run",
                         description="Convert OUT/predictions of `xling eval run` into "
                         "DIR/<task>/test-<lang>.{tsv,json} and DIR.zip.")
    p.add_argument("out", help="the --out folder of `xling eval run`")
    p.add_argument("--to", required=True, help="submission folder to write (replaced atomically)")
    p.add_argument("--tasks", nargs="+", help="tasks to write (default: the nine XTREME tasks)")
    p.add_argument("--include-suite", action="store_true",
                   help="also write our Uyghur/Kazakh suite tasks (not part of the leaderboard)")
    p.add_argument("--no-zip", action="store_true", help="do not write DIR.zip")
    p.set_defaults(func=_cmd_submit)

    v = group.add_parser("validate", help="check an XTREME submission folder and list every problem",
                         description="Check DIR/<task>/test-<lang>.* against the task registry and, where "
                         "the test sets are in the data root, against them.")
    v.add_argument("dir", help="submission folder")
    v.add_argument("--tasks", nargs="+", help="tasks to expect (default: the nine XTREME tasks)")
    v.add_argument("--no-test-sets", action="store_true", help="check formats only, not counts")
    v.add_argument("--partial", action="store_true",
                   help="check only the files present (missing tasks/languages are not problems)")
    v.add_argument("--data-root", help="data root holding the test sets (default: XLING_DATA)")
    v.set_defaults(func=_cmd_validate)

    sc = group.add_parser("score", help="score a submission folder against gold label files, as XTREME's "
                          "evaluate.py does",
                          description="Read DIR/<task>/test-<lang>.* and LABELS/<task>/test-<lang>.* the way "
                          "evaluate.py does (e.g. XTREME's mock_test_data) and print per-task scores and the "
                          "leaderboard aggregate.")
    sc.add_argument("dir", help="submission folder")
    sc.add_argument("--labels", required=True, help="gold label folder in the same layout")
    sc.add_argument("--chunking", choices=("seqeval1", "seqeval0"), default="seqeval1",
                    help="seqeval release whose tag typing scores UD-POS (default: today's seqeval 1.x)")
    sc.add_argument("--json", help="also write the scores to this JSON file")
    sc.set_defaults(func=_cmd_score)


def _cmd_submit(args: argparse.Namespace) -> int:
    res = write_submission(args.out, args.to, tasks=args.tasks, include_suite=args.include_suite,
                           make_zip=not args.no_zip)
    print(f"wrote {len(res.files)} prediction files to {res.folder}")
    if res.zip_path:
        print(f"wrote {res.zip_path}")
    for note in res.notes:
        print(f"  note: {note}")
    if res.missing:
        print(f"  no predictions for {len(res.missing)} task/language pairs: {', '.join(res.missing[:12])}"
              + (" ..." if len(res.missing) > 12 else ""))
        print("  the leaderboard needs every task and language; run `xling eval validate` before submitting")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    rep = validate_submission(args.dir, tasks=args.tasks, root=args.data_root,
                              check_test_sets=not args.no_test_sets, partial=args.partial)
    for problem in rep.problems:
        print(problem)
    for note in rep.notes:
        print(f"note: {note}")
    print(f"checked {len(rep.checked)} files in {rep.folder} ({len(rep.against_test_set)} against local test "
          f"sets): {'OK' if rep.ok else f'{len(rep.problems)} problem(s)'}")
    return 0 if rep.ok else 1


# ---------------------------------------------------------------------------------------------
# Scoring a submission folder against gold label files


def _read_label_lines(path: Path) -> list[str]:
    # evaluate.py `read_label`: every line is one example, blank ones included.
    with path.open(encoding="utf-8") as f:
        return [line.strip() for line in f]


def _read_tag_file(path: Path) -> list[list[str]]:
    # evaluate.py `read_tag`: blank lines end a sentence (an empty sentence for each extra blank line).
    sentences: list[list[str]] = []
    current: list[str] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                current.append(line)
            else:
                sentences.append(current)
                current = []
    if current:
        sentences.append(current)
    return sentences


def _read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            obj = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    return obj["data"] if isinstance(obj, dict) and "data" in obj else obj


def _qa_references(path: Path) -> dict[str, list[str]]:
    articles = _read_json(path)
    if not isinstance(articles, list):
        raise ValueError(f"{path}: gold QA file must be SQuAD JSON with a `data` list of articles")
    return {str(qa["id"]): [a["text"] for a in qa["answers"]]
            for article in articles for para in article["paragraphs"] for qa in para["qas"]}


def score_file(task: Task, prediction: Path, label: Path, lang: str, chunking: str = "seqeval1") -> dict[str, float]:
    """One task/language scored with xling's metrics, reading both files as XTREME's evaluate.py does."""
    from . import metrics as M

    if task.kind == "qa":
        predictions = _read_json(prediction)
        if not isinstance(predictions, dict):
            raise ValueError(f"{prediction}: must be one JSON object mapping question id → answer text")
        references = _qa_references(label)
        if task.metric == "mlqa":
            return M.mlqa_em_f1(predictions, references, lang)
        return M.squad_em_f1(predictions, references)
    if task.kind == "token_classification":
        # The leaderboard scores UD-POS with seqeval F1, like PAN-X (see metrics.pos_accuracy).
        return M.seqeval_f1(_read_tag_file(prediction), _read_tag_file(label), chunking)
    preds, golds = _read_label_lines(prediction), _read_label_lines(label)
    if task.name.startswith("bucc"):
        return M.bucc_prf({tuple(x.split("\t")) for x in preds}, {tuple(x.split("\t")) for x in golds})
    if len(preds) != len(golds):
        raise ValueError(f"{prediction}: {len(preds)} lines but {label} has {len(golds)}")
    return M.accuracy(preds, golds)


def score_submission(folder: str | os.PathLike, labels: str | os.PathLike,
                     chunking: str = "seqeval1") -> dict[str, Any]:
    """Score a submission against gold files in the same layout, as the leaderboard's evaluate.py does.

    Every XTREME task with a folder on both sides is scored on all of its leaderboard languages (a
    missing file is an error, as in evaluate.py); `chunking="seqeval1"` reproduces evaluate.py
    with today's seqeval. Returns `{"tasks": {task: {lang: scores}}, "aggregate": ...}` with the
    aggregate from `metrics.leaderboard_aggregate`.
    """
    from .metrics import XTREME_TASK_LANGUAGES, leaderboard_aggregate

    pred_dir, label_dir = Path(folder), Path(labels)
    for d in (pred_dir, label_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: not a folder")
    tasks: dict[str, dict[str, dict[str, float]]] = {}
    for name, langs in XTREME_TASK_LANGUAGES.items():
        if not ((pred_dir / name).is_dir() and (label_dir / name).is_dir()):
            continue
        task = TASKS.get(name)
        per: dict[str, dict[str, float]] = {}
        for lang in langs:
            pred, gold = submission_path(pred_dir, task, lang), submission_path(label_dir, task, lang)
            for f in (pred, gold):
                if not f.is_file():
                    raise FileNotFoundError(f"{f}: missing (every {name} language is scored)")
            per[lang] = score_file(task, pred, gold, lang, chunking)
        tasks[name] = per
    return {"tasks": tasks, "aggregate": leaderboard_aggregate(tasks) if tasks else None}


def _cmd_score(args: argparse.Namespace) -> int:
    res = score_submission(args.dir, args.labels, chunking=args.chunking)
    if res["aggregate"] is None:
        print(f"no XTREME task has a folder in both {args.dir} and {args.labels}")
        return 1
    agg = res["aggregate"]
    for task, v in agg["tasks"].items():
        print(f"{task:10s} {v['avg_metric']:.2f}  ({v['n_languages']} languages)")
    for group, v in agg["groups"].items():
        print(f"group {group}: {v:.2f}")
    print(f"overall: {agg['overall']:.2f}" if agg["overall"] is not None
          else f"overall: (needs all nine tasks; missing {', '.join(agg['missing_tasks'])})")
    if args.json:
        from xling.io import write_json_atomic

        write_json_atomic(args.json, res)
    return 0
