"""User task files: held-out evaluation sets of your own, run like registered tasks.

    xling eval run --model M --task-file my_tasks.yaml --out O

A task file is YAML with a `tasks:` list. Relative paths are resolved against the task file's folder.

```yaml
tasks:
  - name: my_kk_ru            # retrieval: two line-aligned files per language (line i translates line i)
    kind: retrieval
    test:
      kk: {source: kk-ru.kk, target: kk-ru.ru}
  - name: my_pos              # tagging: CoNLL-U (UPOS column) or IOB2 (`token TAG`, blank line between sentences)
    kind: token_classification
    format: conllu            # conllu | iob2 | uner_iob2
    metric: pos_accuracy      # pos_accuracy (default for conllu) | seqeval_f1 (default for IOB2)
    source_language: tr       # the fine-tuning language (default en)
    train: tr-train.conllu
    dev: tr-dev.conllu        # the source language's dev set: checkpoints are chosen on it, never on a test set
    test: {kk: kk-test.conllu, ug: ug-test.conllu}
```

Retrieval tasks use `retrieval_accuracy` (top-1, query → candidate); tagging labels are the UPOS set
(conllu) or PER/LOC/ORG IOB2 tags unless `labels:` lists others. Each task gets the same treatment as
a registered one: the model's input view, the no-model baselines, the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .tasks import NER_TAGS, TASKS, UPOS, C, Task, register

FORMATS = {"conllu": "conllu", "iob2": "conll_ner", "uner_iob2": "uner_iob2"}
KINDS = ("retrieval", "token_classification")
METRICS = {"retrieval": ("retrieval_accuracy",), "token_classification": ("pos_accuracy", "seqeval_f1")}
_KEYS = {"name", "kind", "format", "metric", "languages", "labels", "source_language", "train", "dev", "test",
         "description"}


class TaskFileError(ValueError):
    pass


def load_task_file(path: str | Path) -> list[Task]:
    """Parse, check and register every task of a task file; returns them in file order."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise TaskFileError(f"task file {path}: cannot read it ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise TaskFileError(f"task file {path}: not valid YAML ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tasks"), list) or not doc["tasks"]:
        raise TaskFileError(f"task file {path}: expected a mapping with a non-empty `tasks:` list")
    out = []
    for i, spec in enumerate(doc["tasks"]):
        out.append(_register(_task(path, i, spec), path))
    return out


def _task(path: Path, i: int, spec: Any) -> Task:
    where = f"task file {path}, tasks[{i}]"
    if not isinstance(spec, dict):
        raise TaskFileError(f"{where}: expected a mapping, got {type(spec).__name__}")
    name = spec.get("name")
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise TaskFileError(f"{where}: `name` must be a word (letters, digits, _ or -), got {name!r}")
    where = f"task file {path}, task {name}"
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise TaskFileError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise TaskFileError(f"{where}: `kind` must be one of {', '.join(KINDS)}, got {kind!r}")
    test = spec.get("test")
    if not isinstance(test, dict) or not test:
        raise TaskFileError(f"{where}: `test` must map each language to its file(s)")
    base = path.parent

    def file(value: Any, field: str) -> str:
        if not isinstance(value, str) or not value:
            raise TaskFileError(f"{where}: `{field}` must be a file path, got {value!r}")
        p = (base / value).resolve()
        if not p.exists():
            raise TaskFileError(f"{where}: `{field}`: {p} does not exist")
        return str(p)

    langs = tuple(str(lg) for lg in test)
    if kind == "retrieval":
        files = []
        for lg, pair in test.items():
            if not isinstance(pair, dict) or set(pair) != {"source", "target"}:
                raise TaskFileError(f"{where}: `test.{lg}` must be {{source: FILE, target: FILE}}")
            files.append(C(file(pair["source"], f"test.{lg}.source"), file(pair["target"], f"test.{lg}.target"),
                           fmt="parallel_lines", langs=(str(lg),)))
        metric = spec.get("metric", "retrieval_accuracy")
        _check_metric(where, kind, metric)
        return Task(name=name, kind=kind, languages=langs, metric=metric, group="retrieval",
                    files={"test": tuple(files)}, description=spec.get("description", f"user task from {path}"))
    fmt = spec.get("format", "conllu")
    if fmt not in FORMATS:
        raise TaskFileError(f"{where}: `format` must be one of {', '.join(FORMATS)}, got {fmt!r}")
    metric = spec.get("metric", "pos_accuracy" if fmt == "conllu" else "seqeval_f1")
    _check_metric(where, kind, metric)
    labels = spec.get("labels", UPOS if metric == "pos_accuracy" else NER_TAGS)
    if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels) or not labels:
        raise TaskFileError(f"{where}: `labels` must be a list of tag names")
    source = str(spec.get("source_language", "en"))
    for split in ("train", "dev"):
        if split not in spec:
            raise TaskFileError(f"{where}: a tagging task needs `{split}` (the {source} fine-tuning {split} set)")
    fmt_name = FORMATS[fmt]
    return Task(name=name, kind=kind, languages=langs, metric=metric, group="tagging", labels=tuple(labels),
                train_lang=source, description=spec.get("description", f"user task from {path}"),
                files={"train": (C(file(spec["train"], "train"), fmt=fmt_name),),
                       "dev": (C(file(spec["dev"], "dev"), fmt=fmt_name),),
                       "test": tuple(C(file(f, f"test.{lg}"), fmt=fmt_name, langs=(str(lg),))
                                     for lg, f in test.items())})


def _check_metric(where: str, kind: str, metric: Any) -> None:
    if metric not in METRICS[kind]:
        raise TaskFileError(f"{where}: `metric` for {kind} must be one of {', '.join(METRICS[kind])}, got {metric!r}")


# Names this module registered: a later task file may redefine them (tests, notebooks and one
# long-lived process run several files), but never a built-in task.
_USER: set[str] = set()


def _register(task: Task, path: Path) -> Task:
    if task.name in TASKS:
        if TASKS.get(task.name) == task:
            return TASKS.get(task.name)  # the same definition loaded again in this process
        if task.name not in _USER:
            raise TaskFileError(f"task file {path}: task {task.name}: the name is taken by a built-in task "
                                "(see `xling eval ls`); rename it")
        TASKS._items[task.name] = task  # the registry has no public replace, on purpose
        return task
    _USER.add(task.name)
    return register(task)
