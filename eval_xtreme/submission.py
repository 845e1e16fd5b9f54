"""XTREME leaderboard submissions: write them from an eval run, and validate them.

Layout (google-research/xtreme README, "Leaderboard Submission", and `mock_test_data/predictions`):
`DIR/<task>/test-<lang>.<ext>` for the nine tasks, `<lang>` the two-letter code, `<ext>` `json`
for QA and `tsv` otherwise. Per task, what `evaluate.py` reads:

- xnli, pawsx: one label per line (`read_label`: every line is one example, blank ones too);
- udpos, panx: one tag per line, a blank line between sentences (`read_tag`);
- xquad, mlqa, tydiqa: one JSON object `{question id: answer text}` (`read_squad`);
- bucc2018: one mined pair `<src id>\\t<en id>` per line, order irrelevant (compared as sets);
- tatoeba: one integer per source sentence, the index of its translation in XTREME's *sorted*
  English file (`utils_preprocess.py --task tatoeba` sorts the English side).

`write_submission` converts the per-example predictions of `xling eval run`
(`OUT/predictions/<task>/<lang>.jsonl`, records `{"id", "prediction", "gold"?}` in test-set
order) into that layout plus a zip; `validate_submission` checks a folder against the task
registry and, where the test sets are in the data root, against them, and returns every problem.
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

from xling.errors import InputError
from xling.io import atomic_path, open_text

from .tasks import TASKS, Task

MAX_PROBLEMS_PER_FILE = 20  # beyond this a file's problems are summarised as a count
TATOEBA_ORDERS = ("auto", "original", "sorted")
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
                raise InputError(f"{path}:{lineno}: malformed JSON line ({e.msg})") from None
            if not isinstance(rec, dict) or "id" not in rec or "prediction" not in rec:
                raise InputError(f"{path}:{lineno}: a prediction record needs the fields 'id' and 'prediction'")
            records.append(rec)
    return records


def _one_line(value: Any, path: Path, rec_no: int, what: str) -> str:
    text = str(value)
    if "\n" in text or "\r" in text or "\t" in text or not text.strip():
        raise InputError(f"{path}: record {rec_no}: {what} {text!r} is empty or contains a tab/newline; "
                         "it cannot be written as one line")
    return text


def format_predictions(task: Task, records: Sequence[dict[str, Any]], path: Path,
                       tatoeba_positions: Sequence[int] | None = None) -> str:
    """The submission file's text for one task/language from prediction records."""
    if task.kind == "classification":
        return "".join(_one_line(r["prediction"], path, i, "label") + "\n" for i, r in enumerate(records, 1))
    if task.kind == "token_classification":
        sentences = []
        for i, r in enumerate(records, 1):
            tags = r["prediction"]
            if not isinstance(tags, list):
                raise InputError(f"{path}: record {i}: a tagging prediction must be a list of tags")
            sentences.append("".join(_one_line(t, path, i, "tag") + "\n" for t in tags))
        return "\n".join(sentences)
    if task.kind == "qa":
        answers: dict[str, str] = {}
        for i, r in enumerate(records, 1):
            if not isinstance(r["prediction"], str):
                raise InputError(f"{path}: record {i}: a QA prediction must be the answer text")
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
    # Tatoeba-style retrieval: one target index per source sentence.
    out = []
    for i, r in enumerate(records, 1):
        pred = r["prediction"]
        if isinstance(pred, bool) or not isinstance(pred, int) or pred < 0:
            raise InputError(f"{path}: record {i}: a retrieval prediction must be a non-negative integer index")
        if tatoeba_positions is not None:
            if pred >= len(tatoeba_positions):
                raise InputError(f"{path}: record {i}: index {pred} is past the {len(tatoeba_positions)} "
                                 "English sentences of the test set")
            pred = tatoeba_positions[pred]
        out.append(f"{pred}\n")
    return "".join(out)


def tatoeba_positions(task: Task, lang: str, order: str, root: str | os.PathLike | None,
                      records: Sequence[dict[str, Any]] = (), run_dir: str | os.PathLike | None = None,
                      ) -> list[int] | None:
    """Map from an index into the English file the run used to XTREME's sorted English file.

    `original`: the run retrieved from LASER's unsorted `.eng` file; `sorted`: its indices already
    refer to XTREME's order (`download/tatoeba`, or LASER files read with `sort_english`);
    `auto`: the records' `gold` indices tell (identity → LASER order; a permutation → already
    sorted), else the test data the registry resolves now (format and `sort_english`).
    Returns None when no remapping is needed.
    """
    if order not in TATOEBA_ORDERS:
        raise InputError(f"tatoeba order {order!r} is not one of {', '.join(TATOEBA_ORDERS)}")
    if order == "sorted":
        return None
    if order == "auto" and records and all("gold" in r for r in records):
        if [r["gold"] for r in records] != list(range(len(records))):
            return None  # the run's English side was already permuted (XTREME's sorting)
        order = "original"
    from xling.io import read_lines

    from .loaders import sort_english_side

    english_file = _run_english_file(run_dir, task.name, lang)
    if english_file is None:
        try:
            df = task.resolve("test", lang, root, allow_fixtures=False)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{task.name}/{lang}: cannot tell which English order the predictions use "
                                    f"without the test data ({e}); pass --tatoeba-order original or sorted") from None
        if df.format != "laser_tatoeba":
            if order == "original":
                raise InputError(f"{task.name}/{lang}: the data root only has XTREME's sorted English file "
                                 f"({df.describe()}), so the original LASER order is unknown")
            return None  # XTREME's download/ layout: already sorted
        if order == "auto" and df.options.get("sort_english", False):
            return None  # the run read the LASER files with the English side sorted, as XTREME does
        english_file = df.paths[1]
    english = [line.strip() for line in read_lines(english_file)]
    while english and not english[-1]:
        english.pop()
    return sort_english_side(english)[1]


def _run_english_file(run_dir: str | os.PathLike | None, task: str, lang: str) -> Path | None:
    """The LASER `.eng` file the eval run read, as recorded in its results.json (if still there)."""
    if run_dir is None:
        return None
    results = Path(run_dir) / "results.json"
    if not results.is_file():
        return None
    try:
        info = json.loads(results.read_text(encoding="utf-8"))["details"][task]["data"][lang]
    except (KeyError, TypeError, json.JSONDecodeError):
        return None
    files = info.get("files") or []
    if info.get("format") != "laser_tatoeba" or len(files) < 2 or not Path(files[1]).is_file():
        return None
    return Path(files[1])


def _write_zip(folder: Path, zip_path: Path) -> None:
    # Fixed timestamps and sorted names: the same predictions give a byte-identical zip.
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(f.relative_to(folder.parent)), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, f.read_bytes())


def write_submission(out_dir: str | os.PathLike, to: str | os.PathLike, tasks: Iterable[str] | None = None,
                     include_suite: bool = False, tatoeba_order: str = "auto", make_zip: bool = True,
                     root: str | os.PathLike | None = None) -> SubmissionResult:
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
    with atomic_path(target) as tmp:
        tmp.mkdir(parents=True)
        for task in chosen:
            for lang in task.languages:
                pred_path = predictions_file(out, task.name, lang)
                if pred_path is None:
                    result.missing.append(f"{task.name}/{lang}")
                    continue
                records = read_predictions(pred_path)
                positions = None
                if task.kind == "retrieval" and not task.name.startswith("bucc") and task.xtreme:
                    positions = tatoeba_positions(task, lang, tatoeba_order, root, records, out)
                    if positions is not None:
                        result.notes.append(f"{task.name}/{lang}: indices remapped to XTREME's sorted English side")
                dest = submission_path(tmp, task, lang)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(format_predictions(task, records, pred_path, positions), encoding="utf-8")
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
    n_targets: int | None = None
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
    # Tatoeba: sorting the English side changes indices, not counts.
    return _Reference(n_examples=len(data.source), n_targets=len(data.target)), ""


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
        for i, line in enumerate(lines, 1):
            value = line.strip()
            if not re.fullmatch(r"\d+", value):
                col.add(i, f"expected a non-negative integer index, got {line!r}")
            elif ref and ref.n_targets is not None and int(value) >= ref.n_targets:
                col.add(i, f"index {value} is past the {ref.n_targets} English sentences")
        if ref and ref.n_examples is not None and len(lines) != ref.n_examples:
            col.add(None, f"{len(lines)} lines but the test set has {ref.n_examples} source sentences")


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
    p.add_argument("--tatoeba-order", choices=TATOEBA_ORDERS, default="auto",
                   help="which English order the Tatoeba indices refer to (auto: decide from the test data)")
    p.add_argument("--no-zip", action="store_true", help="do not write DIR.zip")
    p.add_argument("--data-root", help="data root for the Tatoeba remapping (default: XLING_DATA)")
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


def _cmd_submit(args: argparse.Namespace) -> int:
    res = write_submission(args.out, args.to, tasks=args.tasks, include_suite=args.include_suite,
                           tatoeba_order=args.tatoeba_order, make_zip=not args.no_zip, root=args.data_root)
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
