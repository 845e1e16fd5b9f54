"""`xling run RECIPE.yaml --out RUN`: corpus → vocabulary → pretraining arms → evaluation → report.

One recipe names every stage. Each stage writes into its own folder under RUN and is skipped when
it already finished — the run asks each stage (`xling.core.stage`: its `stage.json` record and
fingerprint), it holds no rules of its own; a stage whose settings or inputs changed is refused
naming them unless `--force`; an interrupted stage resumes. Every stage's config is built and
checked, and every input file is looked up, before any work starts, so a wrong key or a missing
file costs nothing.

    RUN/recipe.yaml            the resolved recipe (reproduce with `xling run RUN/recipe.yaml --out RUN`)
    RUN/corpus/                `xling corpora build` output (clean/ dedup/ decontam/ mix/)
    RUN/vocab/                 `xling vocab train` output (SentencePiece + HF tokenizer)
    RUN/pretrain/<arm>/        `xling pretrain` output per arm (final/ loads with from_pretrained; its
                               README.md is the model card `xling publish` uploads)
    RUN/eval/<model>/          `xling eval run` output per evaluated model
    RUN/run.json               stage status, timings, commands, versions
    RUN/report.md, report.html the run report (the HTML is self-contained)
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from corpora.build import STAGE_DIRS, CorpusRecipe, build_corpus, resolve_input_specs
from corpora.clean import expand_inputs
from corpora.executors import StagesPending
from eval_xtreme.runner import EvalConfig, announce, eval_data_root, eval_finished, eval_task_stage, run_eval
from eval_xtreme.runner import plan as eval_plan
from vocab.train import VocabTrainConfig, is_complete, train_vocab
from xling.core.config import (
    ConfigError,
    add_set_option,
    apply_overrides,
    check_stages,
    from_dict,
    load_yaml_dict,
    merge,
    nest,
    save_config,
)
from xling.core.errors import InputError
from xling.core.io import read_json, write_json_atomic
from xling.core.paths import resolve_data_path
from xling.core.stage import RECORD_FILE, read_record, upstream_state
from xling.core.versions import git_commit
from xling.pretrain import PretrainConfig, pretrain, pretrain_stage
from xling.publish import write_run_cards
from xling.run_report import stage_commands, write_run_report
from xling.translit import check_view_languages

log = logging.getLogger(__name__)

STAGES = ("corpus", "vocab", "pretrain", "eval")


@dataclass
class ArmSpec:
    """One pretraining run. `init_from`: an earlier arm's name (continue from its `final/`) or a
    `from_pretrained` folder; empty = random initialisation. `set`: this arm's changes to the shared
    pretraining config, merged over it as nested mappings; keys may be dotted, e.g.
    `{train.max_steps: 300}` is `{train: {max_steps: 300}}`."""

    name: str
    init_from: str = ""
    objectives: list[dict[str, Any]] = field(default_factory=lambda: [{"name": "mlm", "weight": 1.0}])
    parallel: dict[str, Any] | None = None
    set: dict[str, Any] = field(default_factory=dict)


@dataclass
class PretrainStage:
    """`common`: the `xling pretrain` config shared by every arm (without `tokenizer`, which is the
    run's vocabulary, and without `data.corpus`, which is the run's corpus)."""

    common: dict[str, Any] = field(default_factory=dict)
    arms: list[ArmSpec] = field(default_factory=list)


@dataclass
class EvalStage(EvalConfig):
    """`xling eval run` settings shared by every evaluated model. `models`: arm names to evaluate
    (default: every arm); `baselines`: extra models, `{label: from_pretrained folder or name}`."""

    models: list[str] = field(default_factory=list)
    baselines: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model:
            raise InputError("model: the run evaluates its own arms; list other models under `baselines`")
        if self.out != EvalConfig.out:
            raise InputError("out: the run writes evaluations to RUN/eval/<model>; leave `out` unset")


@dataclass
class RunRecipe:
    name: str = "run"
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    corpus: CorpusRecipe | None = None
    vocab: VocabTrainConfig = field(default_factory=VocabTrainConfig)
    pretrain: PretrainStage = field(default_factory=PretrainStage)
    eval: EvalStage | None = None
    # Languages every stage after the corpus reads through their Latin view (xling.translit): the
    # vocabulary, pretraining (monolingual and parallel text) and evaluation. The corpus itself stays
    # in the original script, so decontamination compares like with like.
    view: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_stages(self.stages, STAGES)
        if self.view:
            check_view_languages(self.view, "view")
        if self.corpus is None:
            raise InputError("corpus: every run starts from a corpus recipe (the `corpus:` section)")
        if "pretrain" in self.stages and not self.pretrain.arms:
            raise InputError("pretrain.arms: name at least one pretraining arm")
        if "eval" in self.stages and self.eval is None:
            raise InputError("eval: the eval stage needs an `eval:` section (tasks, ...)")


# ---------------------------------------------------------------------------------------------
# Loading and checking


@dataclass
class RunPlan:
    """The recipe resolved against a run folder: every stage's own config, ready to run."""

    recipe: RunRecipe
    out: Path
    corpus: CorpusRecipe
    training_corpus: Path  # the corpus folder vocab and pretraining read (before the materialised mix)
    vocab: VocabTrainConfig
    arms: dict[str, Any]  # name → PretrainConfig
    arm_parent: dict[str, str]  # continued arm → the arm it starts from
    evals: dict[str, EvalConfig]  # model label → config


def load_run_recipe(path: str | Path, overrides: list[str] | None = None) -> RunRecipe:
    """The recipe at `path` with `--set` overrides; a list item is addressed by its index, e.g.
    `pretrain.arms.1.set.train.lr=3e-4` (an arm's `set:` is held as a nested mapping, so dotted and
    nested forms name the same setting)."""
    data = load_yaml_dict(path)
    arms = (data.get("pretrain") or {}).get("arms") if isinstance(data.get("pretrain"), dict) else None
    for i, arm in enumerate(arms if isinstance(arms, list) else []):
        if isinstance(arm, dict) and isinstance(arm.get("set"), dict):
            arm["set"] = nest(arm["set"], f"{path}: pretrain.arms.{i}.set")
    data = apply_overrides(data, overrides)
    try:
        recipe = from_dict(RunRecipe, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    # Recipes name shared files (`parallel.include`) relative to the repository root; find them from
    # any working directory by also trying the recipe's own folder and the one above it.
    here = Path(path).resolve().parent
    for arm in recipe.pretrain.arms:
        if arm.parallel and arm.parallel.get("include"):
            arm.parallel["include"] = [_find_relative(p, (here, here.parent)) for p in arm.parallel["include"]]
    return recipe


def _find_relative(p: str, bases: tuple[Path, ...]) -> str:
    if p.startswith("$") or Path(p).is_absolute() or Path(p).exists():
        return p
    for base in bases:
        if (base / p).exists():
            return str(base / p)
    return p


def _mix_defaults(recipe: RunRecipe) -> dict[str, Any]:
    """Pretraining samples languages with the corpus recipe's temperature unless it says otherwise."""
    mix = recipe.corpus.mix
    data: dict[str, Any] = {"alpha": mix.alpha, "max_repeats": mix.max_repeats}
    if mix.schedule:
        data["alpha_schedule"] = [list(p) for p in mix.schedule]
        data["anneal"] = mix.anneal
    return data


def plan_run(recipe: RunRecipe, out: str | Path, check_inputs: bool = True) -> RunPlan:
    """Build every stage's config for `out`; with `check_inputs`, every input file must exist."""
    out = Path(out)
    corpus = replace(recipe.corpus, out=str(out / "corpus"))
    kept = [s for s in corpus.stages if s != "mix"]
    if not kept:
        raise ConfigError("corpus.stages: needs a stage before mix (vocabulary and pretraining read its output)")
    training_corpus = out / "corpus" / STAGE_DIRS[kept[-1]]

    vocab_dir = out / "vocab"
    for where, own in (("vocab.view", recipe.vocab.view), ("eval.view", recipe.eval.view if recipe.eval else [])):
        if own and own != recipe.view:
            raise ConfigError(f"{where}: set the transliteration view once, at the top level (`view:`), so "
                              "every stage reads the same script")
    vocab = replace(recipe.vocab, inputs=list(recipe.vocab.inputs) or [str(training_corpus)], out=str(vocab_dir),
                    view=list(recipe.view))

    # The shared section is completed and checked once, so an error names `pretrain.common...`.
    shared = copy.deepcopy(recipe.pretrain.common)
    for key in ("tokenizer", "objectives", "parallel"):
        if key in shared:
            raise ConfigError(f"pretrain.common.{key}: set per arm (or, for tokenizer, by the run)")
    data = shared.setdefault("data", {})
    if data.get("corpus") or data.get("files"):
        raise ConfigError("pretrain.common.data: corpus/files come from the run's corpus stage")
    for key, value in _mix_defaults(recipe).items():
        if key not in data and not (key == "alpha" and "alpha_schedule" in data):
            data[key] = value
    data["corpus"] = [str(training_corpus)]
    if "view" in data:
        raise ConfigError("pretrain.common.data.view: set the transliteration view at the top level (`view:`)")
    if recipe.view:
        data["view"] = list(recipe.view)
    shared["tokenizer"] = str(vocab_dir)
    from_dict(PretrainConfig, shared, "pretrain.common")

    arms: dict[str, Any] = {}
    parents: dict[str, str] = {}
    for i, arm in enumerate(recipe.pretrain.arms):
        where = f"pretrain.arms[{i}] ({arm.name})"
        if not arm.name or "/" in arm.name or arm.name in arms or arm.name in ("corpus", "vocab"):
            raise ConfigError(f"{where}.name: {arm.name!r} must be a unique folder name")
        cfg = merge(copy.deepcopy(shared), nest(arm.set, f"{where}.set"))
        cfg["objectives"] = arm.objectives
        if arm.parallel is not None:
            cfg["parallel"] = dict(arm.parallel, **({"view": list(recipe.view)} if recipe.view else {}))
        if arm.init_from:
            if arm.init_from in arms:
                parents[arm.name] = arm.init_from
                init = str(out / "pretrain" / arm.init_from / "final")
            elif arm.init_from in {a.name for a in recipe.pretrain.arms}:
                raise ConfigError(f"{where}.init_from: arm {arm.init_from!r} comes later; list it first")
            else:
                init = arm.init_from
                if check_inputs and not Path(init).exists() and Path(init).is_absolute():
                    raise ConfigError(f"{where}.init_from: {init} does not exist")
            cfg.setdefault("model", {})["init_from"] = init
        arms[arm.name] = from_dict(PretrainConfig, cfg, where)
        _check_ernie_m_order(arm.name, arms, parents)
        _check_positions(arm.name, arms, parents, where)

    evals: dict[str, EvalConfig] = {}
    if recipe.eval is not None:
        ev = recipe.eval
        models = list(ev.models) or list(arms)
        for m in models:
            if m not in arms:
                raise ConfigError(f"eval.models: {m!r} is not a pretraining arm ({', '.join(arms) or 'none'})")
        targets = {m: str(out / "pretrain" / m / "final") for m in models}
        for label, model in ev.baselines.items():
            if label in targets:
                raise ConfigError(f"eval.baselines: {label!r} is already an arm name")
            targets[label] = model
        base = {f.name: getattr(ev, f.name) for f in fields(EvalConfig)}
        for label, model in targets.items():
            evals[label] = replace(EvalConfig(**base), model=model, out=str(out / "eval" / label),
                                   view=list(recipe.view))

    plan = RunPlan(recipe, out, corpus, training_corpus, vocab, arms, parents, evals)
    if check_inputs:
        _check_inputs(plan)
    return plan


def _positions(name: str, arms: dict[str, PretrainConfig], parents: dict[str, str]) -> int:
    """How long a sequence arm `name`'s model has position slots for: a continued arm keeps its root's."""
    while name in parents:
        name = parents[name]
    cfg = arms[name]
    return max(cfg.data.max_len, cfg.model.max_positions or 0)


def _check_positions(name: str, arms: dict[str, PretrainConfig], parents: dict[str, str], where: str) -> None:
    # Caught here rather than when the arm starts, after its parent has trained for minutes.
    if name not in parents:
        return
    room, want = _positions(name, arms, parents), arms[name].data.max_len
    if want > room:
        raise ConfigError(f"{where}: data.max_len {want} is longer than arm {parents[name]!r}'s model has "
                          f"positions for ({room}); give that arm `model.max_positions: {want}` or lower data.max_len")


def _check_ernie_m_order(name: str, arms: dict[str, Any], parents: dict[str, str]) -> None:
    """ERNIE-M trains BTMLM on a model that CAMLM already taught to read a translation: its
    generator is that model, and from MLM alone it fills the placeholders with noise. Say so when a
    btmlm arm neither trains camlm itself nor continues (through `init_from`) an arm that did."""
    def objectives(arm: str) -> set[str]:
        return {str(o.get("name")) for o in arms[arm].objectives}

    if "btmlm" not in objectives(name):
        return
    arm: str | None = name
    while arm is not None:
        if "camlm" in objectives(arm):
            return
        arm = parents.get(arm)
    log.warning("pretrain arm %r trains btmlm without camlm before it; ERNIE-M's order is an arm with camlm "
                "(on translation pairs), then a btmlm arm with `init_from` that arm", name)


def _check_inputs(plan: RunPlan) -> None:
    """Fail before any work when a named input is missing (the stages would fail much later)."""
    stages = plan.recipe.stages
    if "corpus" in stages:
        if "clean" in plan.corpus.stages:
            try:
                expand_inputs(resolve_input_specs(plan.corpus.clean.inputs))
            except (FileNotFoundError, ValueError) as e:
                raise ConfigError(f"corpus.clean.inputs: {e}") from None
        else:
            for spec in resolve_input_specs(plan.corpus.inputs):
                if not Path(spec.partition("=")[2] or spec).exists():
                    raise ConfigError(f"corpus.inputs: {spec} does not exist")
    if "pretrain" in stages:
        for name, cfg in plan.arms.items():
            if cfg.parallel is not None:
                for src in cfg.parallel.all_sources():
                    for p in (src.src, src.tgt):
                        if p and not resolve_data_path(p).exists():
                            raise ConfigError(f"pretrain arm {name}: parallel source {p} does not exist")
    if "eval" in stages and plan.evals:
        _check_eval_data(next(iter(plan.evals.values())))  # every model is evaluated on the same data


def _check_eval_data(cfg: EvalConfig) -> None:
    """Each task's English train/dev files, and test files: every named language, or at least one
    of a task's own languages (those the data root lacks are skipped by design). Scores that can
    only be non-comparable (fixture, substitute, dev-as-test) are announced now, before any stage."""
    try:
        jobs = eval_plan(cfg)
    except (KeyError, ValueError) as e:
        raise ConfigError(f"eval: {e}") from None
    announce(cfg, jobs)
    root = eval_data_root(cfg)
    for task, langs, explicit in jobs:
        needed = [(split, task.train_lang) for split in ("train", "dev")
                  if split in task.files] if task.kind != "retrieval" else []
        missing = []
        for lang in langs:
            try:
                task.resolve("test", lang, root, cfg.allow_fixtures)
            except FileNotFoundError:
                missing.append(lang)
        if explicit or len(missing) == len(langs):
            needed += [("test", lang) for lang in missing]
        for split, lang in needed:
            try:
                task.resolve(split, lang, root, cfg.allow_fixtures)
            except FileNotFoundError as e:
                raise ConfigError(f"eval task {task.name}: {e}") from None


# ---------------------------------------------------------------------------------------------
# Running


class RunState:
    """RUN/run.json: what each stage did in the latest invocation, how long it took when it really
    ran, and at which commit (the report's versions are those of the run that wrote it)."""

    def __init__(self, out: Path, argv: list[str]):
        self.path = out / "run.json"
        prev = read_json(self.path) if self.path.is_file() else {}
        self.data: dict[str, Any] = {"argv": argv, "stages": prev.get("stages", {}), "history": prev.get("history", [])}
        self.commit = git_commit()

    def record(self, key: str, status: str, seconds: float,
               records: list[dict[str, Any] | None] | None = None) -> None:
        """`records`: the stage records behind `key` (several for the corpus and for an evaluation).
        A skipped stage takes its commit and time from them when they carry both, not from this
        file's previous entry: the folder may have been finished elsewhere and copied in."""
        entry: dict[str, Any] = {"status": status, "seconds": round(seconds, 1)}
        prev = self.data["stages"].get(key, {})
        told = provenance(records or [])
        if status.startswith("skipped") and told is not None:
            entry["seconds_when_run"], commits = told
            entry["commit_when_run"] = commits[-1] if commits else ""
            if len(commits) > 1:
                entry["commits_when_run"] = commits
        elif status.startswith("skipped") and prev:
            entry["seconds_when_run"] = prev.get("seconds_when_run", prev.get("seconds"))
            entry["commit_when_run"] = prev.get("commit_when_run", "")
            if prev.get("commits_when_run"):
                entry["commits_when_run"] = prev["commits_when_run"]
        elif status.startswith("skipped"):  # finished before this file knew it, by code it cannot tell
            entry["seconds_when_run"], entry["commit_when_run"] = None, ""
        else:
            entry["seconds_when_run"] = entry["seconds"]
            entry["commit_when_run"] = self.commit
        self.data["stages"][key] = entry
        self.data["history"].append({"stage": key, "status": status, "seconds": entry["seconds"],
                                     "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "commit": self.commit})
        write_json_atomic(self.path, self.data)


def provenance(records: list[dict[str, Any] | None]) -> tuple[float, list[str]] | None:
    """(seconds, distinct commits oldest first) from finished stage records, or None when a record is
    missing or older than the fields (those stages are described by run.json's own history)."""
    done = [r for r in records if r and r.get("status") == "finished"]
    if not done or len(done) != len(records) or any("commit" not in r or "seconds" not in r for r in done):
        return None
    commits: list[str] = []
    for r in sorted(done, key=lambda r: str(r.get("time", ""))):
        if r["commit"] and r["commit"] not in commits:
            commits.append(r["commit"])
    return round(sum(float(r["seconds"]) for r in done), 1), commits


def stage_records(plan: RunPlan, key: str) -> list[dict[str, Any] | None]:
    """The completion records that make up one of `stage_keys`' stages, as they are on disk now."""
    kind, _, name = key.partition("/")
    out = plan.out
    if kind == "corpus":
        return [read_record(out / "corpus" / STAGE_DIRS[s] / RECORD_FILE) for s in plan.corpus.stages]
    if kind == "vocab":
        return [read_record(Path(plan.vocab.out) / RECORD_FILE)]
    if kind == "pretrain":  # the record alone: the arm's fingerprint would hash its inputs again
        return [read_record(out / "pretrain" / name / RECORD_FILE)]
    cfg = plan.evals[name]
    return [eval_task_stage(cfg, task, langs, Path(cfg.out)).record for task, langs, _ in eval_plan(cfg)]


def stage_keys(plan: RunPlan) -> list[str]:
    """The run's stages in the order they run: corpus, vocab, pretrain/<arm>…, eval/<model>…."""
    stages = plan.recipe.stages
    return ([s for s in ("corpus", "vocab") if s in stages]
            + ([f"pretrain/{a}" for a in plan.arms] if "pretrain" in stages else [])
            + ([f"eval/{m}" for m in plan.evals] if "eval" in stages else []))


def stage_work(plan: RunPlan, key: str) -> float:
    """A stage's size in the unit its kind is timed in: a pretraining arm's budget in tokens (steps ×
    sequences × length), one evaluated model (every model runs the same tasks), one corpus or vocabulary."""
    kind, _, name = key.partition("/")
    if kind == "pretrain":
        tc = plan.arms[name].train
        return float(tc.max_steps * tc.global_batch_size * plan.arms[name].data.max_len)
    return 1.0


class Progress:
    """The overall progress line printed as each stage starts: stage i/n, time elapsed in this
    invocation, and the ETA of the rest. A stage's time is estimated from the seconds per unit of
    work (`stage_work`) of the stages of its kind that really ran, in this invocation or an earlier
    one (RUN/run.json's history); a stage that finished before counts as ~0 (it is checked and
    skipped). Kinds not yet timed are named instead of guessed."""

    def __init__(self, plan: RunPlan, state: RunState) -> None:
        self.plan, self.state, self.keys = plan, state, stage_keys(plan)
        self.t0 = time.time()
        self.done_before = {k for k, e in state.data["stages"].items()
                            if e.get("status") in ("ran", "skipped (finished)")}

    def timings(self) -> dict[str, float]:
        """key → seconds of its latest complete run (with the paused runs that led up to it)."""
        out: dict[str, float] = {}
        pending: dict[str, float] = {}
        for entry in self.state.data.get("history", []):
            key, status = entry.get("stage"), entry.get("status")
            if status == "paused":
                pending[key] = pending.get(key, 0.0) + entry["seconds"]
            elif status == "ran":
                out[key] = pending.pop(key, 0.0) + entry["seconds"]
        return out

    def rate(self, kind: str) -> float | None:
        timed = [(s, stage_work(self.plan, k)) for k, s in self.timings().items()
                 if k.partition("/")[0] == kind and k in self.keys]
        work = sum(w for _, w in timed)
        return sum(s for s, _ in timed) / work if work else None

    def eta(self, start: int, running: bool = False) -> tuple[float, list[str]]:
        """(seconds the stages from index `start` on will take, by the known rates; kinds with no rate).
        `running`: stage `start` runs now even if it finished before (its settings changed, --force)."""
        seconds, unknown = 0.0, []
        for i, key in enumerate(self.keys[start:]):
            if key in self.done_before and not (running and i == 0):
                continue
            kind = key.partition("/")[0]
            rate = self.rate(kind)
            if rate is None:
                unknown += [kind] if kind not in unknown else []
            else:
                seconds += rate * stage_work(self.plan, key)
        return seconds, unknown

    def line(self, key: str, running: bool = False) -> str:
        i = self.keys.index(key)
        seconds, unknown = self.eta(i, running)
        if unknown and not seconds:
            eta = f"ETA after the first {', '.join(unknown)} stage has run"
        else:
            eta = f"ETA {_clock(seconds)}" + (f" + {', '.join(unknown)} (not yet timed)" if unknown else "")
        return f"[stage {i + 1}/{len(self.keys)} {key}] elapsed {_clock(time.time() - self.t0)}, {eta}"

    def start(self, key: str, status: str) -> None:
        print(f"== {key}: {status}   {self.line(key, running=status == 'running')}", flush=True)

    def finish(self) -> None:
        print(f"[run] {len(self.keys)}/{len(self.keys)} stages done in {_clock(time.time() - self.t0)}", flush=True)


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}"


def run(recipe: RunRecipe, out: str | Path, argv: list[str] | None = None, progress: bool = True,
        force: bool = False) -> Path:
    """Run (or continue) every stage of `recipe` into `out`; returns `out/report.md`. A stage whose
    settings changed since it ran is refused (naming the keys) unless `force`, which redoes it."""
    out = Path(out)
    plan = plan_run(recipe, out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(recipe, out / "recipe.yaml")
    state = RunState(out, argv if argv is not None else sys.argv)
    stages = recipe.stages
    overall = Progress(plan, state)

    def timed(key: str, done_before: bool, fn) -> None:
        t0 = time.time()
        overall.start(key, "already finished, checking" if done_before else "running")
        fn()
        state.record(key, "skipped (finished)" if done_before else "ran", time.time() - t0,
                     stage_records(plan, key) if done_before else None)

    if "corpus" in stages:
        finished = (out / "corpus" / "report.md").is_file() and all(
            upstream_state(out / "corpus" / STAGE_DIRS[s]) == "finished" for s in plan.corpus.stages)
        timed("corpus", finished, lambda: build_corpus(plan.corpus, out / "corpus", progress=progress, force=force))
    if "vocab" in stages:
        vocab_done = is_complete(Path(plan.vocab.out), plan.vocab)
        timed("vocab", vocab_done, lambda: train_vocab(plan.vocab, force=force and not vocab_done))
    if "pretrain" in stages:
        for name, cfg in plan.arms.items():
            folder = out / "pretrain" / name
            parent = plan.arm_parent.get(name)
            if parent and not pretrain_stage(plan.arms[parent], out / "pretrain" / parent).is_finished():
                raise InputError(f"pretrain arm {name} starts from {parent}, which did not finish; run its stage first")
            stage = pretrain_stage(cfg, folder)
            if stage.is_finished():
                timed(f"pretrain/{name}", True, lambda: None)
            else:
                t0 = time.time()
                overall.start(f"pretrain/{name}", "running")
                # --force redoes a stage whose settings changed; one that is merely unfinished resumes
                pretrain(cfg, folder, force=force and stage.state() in ("changed", "foreign"))
                finished = stage.is_finished()
                state.record(f"pretrain/{name}", "ran" if finished else "paused", time.time() - t0)
                if not finished:
                    # train.max_steps_this_run stopped it after a checkpoint: the next run resumes here
                    print(f"pretrain/{name} paused before step {cfg.train.max_steps}; re-run the same "
                          "command to continue", flush=True)
                    return _report(plan, state)
    if "eval" in stages:
        for label, cfg in plan.evals.items():
            if not Path(cfg.model).exists() and cfg.model.startswith(str(out)):
                raise FileNotFoundError(f"eval {label}: {cfg.model} does not exist; run the pretrain stage first")
            timed(f"eval/{label}", eval_finished(cfg), lambda cfg=cfg: run_eval(cfg, force=force, keep_unchanged=True))
    # Every finished arm's final/ gets its model card (README.md, with this run's results so far);
    # final/'s fingerprint is its stage record's, so the card does not make evaluation stale.
    for card in write_run_cards(out, list(plan.arms)):
        print(f"wrote model card {card}", flush=True)
    overall.finish()
    return _report(plan, state)


def _report(plan: RunPlan, state: RunState) -> Path:
    return write_run_report(plan, state.data)


# ---------------------------------------------------------------------------------------------
# CLI


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a whole recipe: corpus → vocabulary → pretraining → evaluation → report",
                       description="Run every stage of a run recipe into RUN. Finished stages are skipped, an "
                                   "interrupted one resumes: re-run the same command after a failure.")
    p.add_argument("recipe", type=Path, metavar="RECIPE.yaml", help="e.g. recipes/kk-ug-demo.yaml")
    p.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder")
    add_set_option(p, "pretrain.common.train.max_steps=20")
    p.add_argument("--check", action="store_true",
                   help="load the recipe, check every stage's config and inputs, print the plan, run nothing")
    p.add_argument("--report-only", action="store_true", help="rewrite RUN/report.{md,html} from what RUN holds")
    p.add_argument("--force", action="store_true",
                   help="redo the stages whose settings or inputs changed since they ran (without it they are "
                        "refused, naming what changed); unchanged finished stages are still skipped")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    try:
        return _cli_inner(args)
    except ConfigError as e:
        where = str(args.recipe)
        raise ConfigError(str(e) if str(e).startswith(where) else f"{where}: {e}") from None


def _cli_inner(args: argparse.Namespace) -> int:
    recipe = load_run_recipe(args.recipe, args.overrides)
    if args.check:
        plan = plan_run(recipe, args.out)
        print(describe_plan(plan))
        return 0
    if args.report_only:
        state = read_json(args.out / "run.json") if (args.out / "run.json").is_file() \
            else {"argv": [], "stages": {}}
        report = write_run_report(plan_run(recipe, args.out, check_inputs=False), state)
    else:
        argv = ["xling", "run", str(args.recipe), "--out", str(args.out),
                *(f"--set={o}" for o in args.overrides)]
        try:
            report = run(recipe, args.out, argv, force=args.force)
        except StagesPending as pending:
            # a cluster corpus recipe: jobs were submitted; the same command continues once they end
            print(f"{pending}\nre-run `{' '.join(argv)}` when the jobs have finished")
            return 0
    print(f"wrote {report} and {report.with_suffix('.html')}")
    return 0


def describe_plan(plan: RunPlan) -> str:
    lines = [f"run {plan.recipe.name} → {plan.out}", f"stages: {' → '.join(plan.recipe.stages)}",
             f"corpus: {len(plan.corpus.clean.inputs or plan.corpus.inputs)} inputs, stages "
             f"{', '.join(plan.corpus.stages)}; vocabulary and pretraining read {plan.training_corpus}",
             f"vocab: {plan.vocab.model_type} {plan.vocab.vocab_size:,} pieces, α={plan.vocab.alpha}"]
    for name, cfg in plan.arms.items():
        objs = " + ".join(f"{o['name']}×{o.get('weight', 1.0)}" for o in cfg.objectives)
        init = f", continues {plan.arm_parent.get(name) or cfg.model.init_from}" if cfg.model.init_from else ""
        lines.append(f"pretrain {name}: {objs}, {cfg.train.max_steps} steps × {cfg.train.global_batch_size} "
                     f"sequences of {cfg.data.max_len}{init}")
    for label, cfg in plan.evals.items():
        lines.append(f"eval {label}: {cfg.model} on {', '.join(cfg.tasks)}")
    lines += ["", "stand-alone commands:", *(f"  {c}" for _, c in stage_commands(plan))]
    return "\n".join(lines)
