"""`xling publish RUN_OR_MODEL --repo-id ORG/NAME`: a Hub-ready folder — model card, weights, tokenizer — and its upload.

The card (README.md) carries Hub metadata (`language`, `license`, `datasets`, `tags`, and a `model-index`
with one entry per evaluated task and language, filled from the arm's `results.json` with its 95%
bootstrap intervals), the corpus table, every data source with its license, the recipe and the exact
commands. `--dry-run` writes the folder and checks the card with `huggingface_hub`'s own parsers
(`ModelCard.load`, `metadata_load`, the model-index → `EvalResult` conversion) instead of uploading;
without it, the folder goes up with `HfApi.upload_folder`. `xling run` writes the same card into every
arm's `final/` (`write_card`), so a run folder is documented before anyone publishes it.

What a card can know comes from the run folder's own files, never from a second copy of the pipeline's
rules: `RUN/recipe.yaml` and `RUN/run.json` (argv), `RUN/corpus/recipe.yaml` + `report.md`,
`RUN/pretrain/<arm>/config.yaml` (through `xling.pretrain`'s stage inputs), `RUN/eval/<arm>/results.json`.
A bare model folder (no run around it) gets a card with what the folder itself holds.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results
from huggingface_hub.utils import HFValidationError, validate_repo_id

from eval_xtreme.metrics import primary_name
from eval_xtreme.tasks import TASKS
from vocab.export import portable_config
from xling.core.config import from_dict, load_yaml_dict
from xling.core.errors import InputError
from xling.core.io import atomic_path, read_json, write_text_atomic
from xling.core.langs import to_iso1
from xling.core.paths import data_root, resolve_data_path
from xling.core.report import markdown_table
from xling.parallel import ParallelConfig
from xling.run_report import commands_for

CARD = "README.md"
# What a published folder holds besides the card (XLM-R's file names; weights as safetensors only).
MODEL_FILES = ("config.json", "model.safetensors", "generation_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model")

# Licenses of the data root's text, as its MANIFEST.md states them (section in the last field):
# (glob on the path relative to the data root, license, what it is, upstream repository).
DATA_LICENSES: tuple[tuple[str, str, str, str], ...] = (
    ("mono/*/common_voice/*", "CC0-1.0", "Common Voice Sentence Collector sentences (MANIFEST §10)",
     "common-voice/common-voice"),
    ("mono/kk/apertium_kaz_segmentation_corpus/*", "GPL-3.0", "apertium-kaz segmentation corpus (MANIFEST §7)",
     "apertium/apertium-kaz"),
    ("mono/ug/thuyg20_transcripts_latin/*", "unknown (no LICENSE upstream; THUYG-20, OpenSLR 22)",
     "THUYG-20 speech transcripts (MANIFEST §7)", "gheyret/uyghur-asr-ctc"),
    ("mono/*/oscar2019_hf_dummy/*", "CC0-1.0 (as the HF `oscar` card lists)", "OSCAR-2019 lines (MANIFEST §7)",
     "oscar"),
    ("parallel/kk-ru/apertium_kaz_rus_CORPUS/*", "GPL-3.0 (repository); text from .gov.kz sites",
     "apertium-kaz-rus corpus, Kazakh government websites (MANIFEST §6)", "apertium/apertium-kaz-rus"),
    ("parallel/xwmt/*", "MIT", "X-WMT Turkic test sets (MANIFEST §6)", "turkic-interlingua/til-mt"),
    ("parallel/en-ug/flores200/*", "CC-BY-SA-4.0", "FLORES-200 dev (MANIFEST §6)", "facebook/flores"),
    ("parallel/udhr/*", "unknown (© OHCHR; no LICENSE upstream)", "UDHR translations (MANIFEST §6)",
     "unicode-org/udhr"),
    ("parallel/*/wmt_newstest/*", "unknown (statmt.org distributes them for research)",
     "WMT news test sets (MANIFEST §6)", "Helsinki-NLP/OPUS-MT-testsets"),
    ("parallel/tatoeba_challenge_test_v2021-08-07/*", "unknown (tatoeba.org; not stated upstream)",
     "Tatoeba Translation Challenge test sets (MANIFEST §6)", "Helsinki-NLP/OPUS-MT-testsets"),
    ("parallel/*/opus100_hf_dummy/*", "unknown (OPUS-100 HF dummy data)", "OPUS-100 (MANIFEST §6)", "opus100"),
    ("lid/lingua_testdata/*", "Apache-2.0 (lingua repository); text drawn from Leipzig Wortschatz corpora",
     "Leipzig-derived sentences from lingua's test data (MANIFEST §8)", "pemistahl/lingua"),
    ("kazqad/*", "CC-BY-SA-4.0", "KazQAD (MANIFEST §5)", "issai/kazqad"),
    ("cc_samples/*", "Common Crawl terms of use", "Common Crawl records (MANIFEST §9)", "commoncrawl"),
)
UNKNOWN_LICENSE = "unknown (not in the data root's MANIFEST; check the source)"

# eval_xtreme task groups → Hub task ids (bitext retrieval has none of its own; the Hub files it under
# sentence similarity).
HUB_TASK = {"tagging": "token-classification", "qa": "question-answering",
            "classification": "text-classification", "retrieval": "sentence-similarity"}


@dataclass
class Source:
    path: str  # as the recipe wrote it ($XLING_DATA/...)
    license: str
    what: str
    upstream: str


@dataclass
class CardFacts:
    """Everything the card says, read from the run folder (or the bare model folder)."""

    model: Path
    run: Path | None = None
    arm: str | None = None
    recipe_name: str = ""
    languages: list[str] = field(default_factory=list)  # ISO 639-1 where one exists
    objectives: list[str] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    corpus_table: str = ""
    results: dict[str, Any] | None = None
    run_command: str = ""
    commands: list[str] = field(default_factory=list)
    recipe_text: str = ""
    model_config: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------- locating


def locate(target: str | os.PathLike, arm: str | None = None) -> tuple[Path, Path | None, str | None]:
    """(model folder, run folder or None, arm name or None) for a run folder or a model folder."""
    p = Path(target)
    if (p / "config.json").is_file():
        run = p.parent.parent.parent
        if p.name == "final" and p.parent.parent.name == "pretrain" and (run / "recipe.yaml").is_file():
            if arm and arm != p.parent.name:
                raise InputError(f"--arm {arm}: {p} is arm {p.parent.name}'s model")
            return p, run, p.parent.name
        if arm:
            raise InputError(f"--arm {arm}: {p} is a model folder, not a run folder")
        return p, None, None
    if (p / "recipe.yaml").is_file() and (p / "pretrain").is_dir():
        arms = sorted(d.parent.name for d in (p / "pretrain").glob("*/final") if (d / "config.json").is_file())
        if not arms:
            raise InputError(f"{p}: no pretraining arm has a final/ model yet (run `xling run` to the end)")
        if arm is None:
            if len(arms) > 1:
                raise InputError(f"{p}: the run has arms {', '.join(arms)}; choose one with --arm")
            arm = arms[0]
        if arm not in arms:
            raise InputError(f"--arm {arm}: not a finished arm of {p} (finished: {', '.join(arms)})")
        return p / "pretrain" / arm / "final", p, arm
    raise InputError(f"{p}: neither a model folder (config.json) nor a run folder (recipe.yaml + pretrain/)")


def license_of(path: str) -> Source:
    """The MANIFEST license of one input path (`$XLING_DATA/...`, relative or absolute)."""
    full = resolve_data_path(path)
    root = data_root(required=False)
    rel = None
    if str(path).startswith(("$XLING_DATA", "${XLING_DATA}")):
        rel = str(path).split("/", 1)[1] if "/" in str(path) else ""
    elif root is not None:
        try:
            rel = full.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            rel = None
    if rel is not None:
        for pattern, lic, what, upstream in DATA_LICENSES:
            if fnmatch.fnmatch(rel, pattern):
                return Source(str(path), lic, what, upstream)
    return Source(str(path), UNKNOWN_LICENSE, "outside the data root" if rel is None else rel, "")


# ------------------------------------------------------------------------------------- facts


def gather(model: Path, run: Path | None, arm: str | None) -> CardFacts:
    facts = CardFacts(model=model, run=run, arm=arm, model_config=read_json(model / "config.json"))
    if run is None:
        return facts
    recipe = load_yaml_dict(run / "recipe.yaml")
    facts.recipe_name = str(recipe.get("name", run.name))
    facts.recipe_text = (run / "recipe.yaml").read_text(encoding="utf-8")
    corpus = recipe.get("corpus") or {}
    clean = corpus.get("clean") or {}
    langs = clean.get("languages") or []
    facts.languages = sorted({to_iso1(str(lang).split("_")[0]) for lang in langs})
    inputs = [str(s) for s in (clean.get("inputs") or []) + (corpus.get("inputs") or [])]
    arm_dir = run / "pretrain" / arm
    if (arm_dir / "config.yaml").is_file():
        # Only the sections the card needs are typed: an arm written by an older version (other train
        # keys) still gets its card.
        raw = load_yaml_dict(arm_dir / "config.yaml")
        facts.objectives = [str(o["name"]) for o in raw.get("objectives") or [] if isinstance(o, dict) and "name" in o]
        for paths in ((raw.get("data") or {}).get("files") or {}).values():
            inputs += [paths] if isinstance(paths, str) else list(paths)
        if raw.get("parallel"):  # sources listed in the arm and in its `include` files
            par = from_dict(ParallelConfig, raw["parallel"], f"{arm_dir / 'config.yaml'}: parallel")
            inputs += [str(getattr(src, side)) for src in par.all_sources() for side in ("src", "tgt")
                       if getattr(src, side, None)]
    seen: set[str] = set()
    facts.sources = [license_of(s) for s in inputs if not (s in seen or seen.add(s))]
    report = run / "corpus" / "report.md"
    if report.is_file():
        text = report.read_text(encoding="utf-8")
        i = text.find("## Documents per language")
        facts.corpus_table = text[i:].split("\n", 1)[1].strip() if i >= 0 else ""
    results = run / "eval" / arm / "results.json"
    facts.results = read_json(results) if results.is_file() else None
    state = read_json(run / "run.json") if (run / "run.json").is_file() else {}
    facts.run_command = shlex.join(state.get("argv") or ["xling", "run", str(run / "recipe.yaml"), "--out", str(run)])
    evals = [str(run / "eval" / arm)] if (run / "eval" / arm).is_dir() else []
    chain = _arm_chain(run, arm)
    facts.commands = [c for stage, c in commands_for(run, chain, evals)
                      if not stage.startswith("eval/") or stage == f"eval/{arm}"]
    return facts


def _arm_chain(run: Path, arm: str) -> list[str]:
    """The arms this one continues from (oldest first), then itself: each is a command to redo."""
    chain = [arm]
    while True:
        cfg = load_yaml_dict(run / "pretrain" / chain[0] / "config.yaml") \
            if (run / "pretrain" / chain[0] / "config.yaml").is_file() else {}
        init = str((cfg.get("model") or {}).get("init_from") or "")
        parent = Path(init)
        if init and parent.name == "final" and parent.parent.parent == run / "pretrain" and parent.parent.name not in chain:
            chain.insert(0, parent.parent.name)
        else:
            return chain


def eval_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (task, language) and per task mean: score, 95% interval, n, metric, group."""
    rows = []
    intervals = (results.get("intervals") or {}).get("tasks") or {}
    suite = (results.get("suite_aggregate") or {}).get("tasks") or {}
    for task_name, per_lang in (results.get("tasks") or {}).items():
        task = TASKS.get(task_name) if task_name in TASKS else None
        metric = primary_name(task.metric) if task else "score"
        group = task.group if task else ""
        iv = intervals.get(task_name) or {}
        for lang in per_lang:
            cell = (iv.get("languages") or {}).get(lang)
            if cell is None or cell.get("score") is None:
                continue
            rows.append({"task": task_name, "lang": lang, "score": float(cell["score"]), "ci95": cell.get("ci95"),
                         "n": cell.get("n"), "metric": metric, "group": group})
        mean = iv.get("mean") or {}
        if mean.get("score") is not None and len(per_lang) > 1:
            rows.append({"task": task_name, "lang": "mean", "score": float(mean["score"]),
                         "ci95": mean.get("ci95") or (suite.get(task_name) or {}).get("ci95"),
                         "n": None, "metric": metric, "group": group})
    return rows


# ------------------------------------------------------------------------------------- the card


def card_data(facts: CardFacts, name: str, license: str) -> Any:
    results = []
    for r in eval_rows(facts.results) if facts.results else []:
        ci = r["ci95"]
        label = f"{r['metric']} (95% CI {ci[0]:.2f}–{ci[1]:.2f})" if ci else r["metric"]
        results.append(EvalResult(
            task_type=HUB_TASK.get(r["group"], "fill-mask"), task_name=r["task"], dataset_type=r["task"],
            dataset_name=f"{r['task']} ({r['lang']})", dataset_config=r["lang"], dataset_split="test",
            metric_type=_metric_id(r["metric"]), metric_value=round(r["score"], 4), metric_name=label))
    tags = ["xling", "xlm-roberta", "fill-mask", "cross-lingual", "low-resource", *facts.objectives]
    extra: dict[str, Any] = {}
    if license == "other":
        extra = {"license_name": "see-training-data"}  # the card's data-source table
    return ModelCardData(
        language=facts.languages or None, license=license, library_name="transformers", pipeline_tag="fill-mask",
        tags=list(dict.fromkeys(tags)), datasets=sorted({s.upstream for s in facts.sources if s.upstream}) or None,
        model_name=name, eval_results=results or None, **extra)


def _metric_id(name: str) -> str:
    return {"accuracy": "accuracy", "F1": "f1", "(EM + F1) / 2": "exact_match"}.get(name, name.lower())


def card_text(facts: CardFacts, repo_id: str | None, license: str = "other") -> str:
    """The card; `repo_id` None (a run's final/, not published yet): the usage example loads the folder."""
    name = repo_id.split("/")[-1] if repo_id else (f"{facts.recipe_name}-{facts.arm}" if facts.run else facts.model.name)
    where = repo_id or str(facts.model)
    data = card_data(facts, name, license)
    mc = facts.model_config
    size = (f"{mc.get('num_hidden_layers')} layers, hidden size {mc.get('hidden_size')}, "
            f"{mc.get('num_attention_heads')} heads, vocabulary {mc.get('vocab_size'):,}") if mc else ""
    what = (f"the `{facts.arm}` arm of the xling recipe `{facts.recipe_name}`" if facts.run
            else "a model folder trained or prepared with xling")
    lines = [f"# {name}", "",
             f"An XLM-R-architecture masked language model: {what}"
             + (f", pretrained with {' + '.join(facts.objectives)}" if facts.objectives else "") + ". "
             + (f"Architecture: {size}." if size else ""), "",
             "## Use", "", "```python", "from transformers import AutoModelForMaskedLM, AutoTokenizer", "",
             f"tok = AutoTokenizer.from_pretrained({where!r})",
             f"model = AutoModelForMaskedLM.from_pretrained({where!r})", "```", "",
             "The tokenizer loads in transformers 4.x and 5.x (`PreTrainedTokenizerFast` over `tokenizer.json`) and "
             "gives exactly the SentencePiece ids of `sentencepiece.bpe.model`, the ids the model was pretrained on; "
             "ids follow XLM-R's layout (`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, `<mask>` last).", ""]
    rows = eval_rows(facts.results) if facts.results else []
    if rows:
        method = (facts.results.get("intervals") or {}).get("method", "")
        lines += ["## Evaluation", "",
                  markdown_table(["task", "language", "metric", "score", "95% CI", "n"],
                                 [[r["task"], r["lang"], r["metric"], f"{r['score']:.2f}",
                                   f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]" if r["ci95"] else "",
                                   r["n"] if r["n"] is not None else ""] for r in rows]), ""]
        if method:
            lines += [f"Intervals: {method}.", ""]
    if facts.corpus_table:
        lines += ["## Training corpus", "", "Documents per language after each corpus stage "
                  "(mix: documents written, with repeats):", "", facts.corpus_table, ""]
    if facts.sources:
        lines += ["## Data sources and licenses", "",
                  markdown_table(["source", "license", "upstream", "inputs"], source_rows(facts.sources)), "",
                  "Licenses as the data root's MANIFEST.md states them. The model's own license "
                  f"(`{license}`) is the publisher's choice; it must respect these terms.", ""]
    if facts.run_command or facts.commands:
        lines += ["## How it was made", "", "The whole run (every stage, skipped where finished):", "",
                  "```", facts.run_command, "```", "", "Stage by stage, from the configs saved in the run folder:", "",
                  "```", *facts.commands, "```", ""]
    if facts.recipe_text:
        lines += ["## Recipe", "", "```yaml", facts.recipe_text.rstrip(), "```", ""]
    body = "\n".join(lines)
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))


def source_rows(sources: list[Source]) -> list[list[str]]:
    """One row per source (what, license, upstream), its input files listed (a folder's many files as one)."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for s in sources:
        groups.setdefault((s.what, s.license, s.upstream), []).append(s.path)
    rows = []
    for (what, lic, upstream), paths in groups.items():
        folders = sorted({p.rsplit("/", 1)[0] for p in paths})
        shown = (", ".join(f"`{p}`" for p in paths) if len(paths) <= 3
                 else ", ".join(f"`{f}/`" for f in folders) + f" ({len(paths)} files)")
        rows.append([what, lic, upstream, shown])
    return rows


def write_card(folder: str | os.PathLike, model: Path, run: Path | None, arm: str | None, repo_id: str | None,
               license: str = "other") -> Path:
    """Write README.md (the model card) into `folder`; returns its path."""
    return write_text_atomic(Path(folder) / CARD, card_text(gather(model, run, arm), repo_id, license))


def write_run_cards(run: Path, arms: list[str]) -> list[Path]:
    """`xling run`'s hook: a card in every finished arm's `final/` (`xling publish` adds the repo id)."""
    out = []
    for arm in arms:
        final = run / "pretrain" / arm / "final"
        if (final / "config.json").is_file():
            out.append(write_card(final, final, run, arm, None))
    return out


def validate_card(path: str | os.PathLike, expected_results: int | None = None) -> Any:
    """Parse the card as the Hub library does; raise InputError naming what is wrong."""
    try:
        card = ModelCard.load(path, ignore_metadata_errors=False)
    except Exception as e:  # huggingface_hub raises ValueError/yaml errors of several kinds
        raise InputError(f"{path}: the model card does not parse: {e}") from None
    meta = metadata_load(path) or {}
    for key in ("language", "license", "tags", "library_name", "pipeline_tag"):
        if key not in meta:
            raise InputError(f"{path}: card metadata lacks {key!r}")
    if expected_results:
        if "model-index" not in meta:
            raise InputError(f"{path}: card metadata lacks 'model-index'")
        _, parsed = model_index_to_eval_results(meta["model-index"])
        if len(parsed) != expected_results or len(card.data.eval_results or []) != expected_results:
            raise InputError(f"{path}: model-index holds {len(parsed)} results, expected {expected_results}")
    return card


# ------------------------------------------------------------------------------------- the folder


def build_folder(target: str | os.PathLike, repo_id: str, out: str | os.PathLike | None = None,
                 arm: str | None = None, license: str = "other") -> Path:
    """Write the Hub folder (card + weights + tokenizer) for `target` and validate its card."""
    check_repo_id(repo_id)
    model, run, arm = locate(target, arm)
    if not (model / "model.safetensors").is_file():
        raise InputError(f"{model}: no model.safetensors (only safetensors weights are published)")
    if not (model / "tokenizer.json").is_file():
        raise InputError(f"{model}: no tokenizer.json (a folder written by `xling pretrain` has one)")
    dest = Path(out) if out else (run / "publish" / arm if run else model.parent / f"{model.name}-hub")
    facts = gather(model, run, arm)
    with atomic_path(dest) as tmp:
        tmp.mkdir(parents=True)
        for name in (*MODEL_FILES, *TOKENIZER_FILES):
            if (model / name).is_file():
                shutil.copy2(model / name, tmp / name)
        portable_config(tmp)
        write_text_atomic(tmp / CARD, card_text(facts, repo_id, license))
        validate_card(tmp / CARD, len(eval_rows(facts.results)) if facts.results else None)
    return dest


def check_repo_id(repo_id: str) -> None:
    if repo_id.count("/") != 1:
        raise InputError(f"--repo-id {repo_id!r}: expected ORG/NAME")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise InputError(f"--repo-id {repo_id!r}: {e}") from None


def upload(folder: Path, repo_id: str, private: bool = False, endpoint: str | None = None) -> str:
    """Create the repo if needed and upload `folder` (one commit); returns the commit URL."""
    api = HfApi(endpoint=endpoint)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=str(folder),
                             commit_message=f"xling publish {folder.name}")
    return str(getattr(info, "commit_url", info))


# ------------------------------------------------------------------------------------- CLI


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish", help="write a Hub folder (model card, weights, tokenizer) and upload it",
                       description="Publish a pretrained arm (RUN --arm NAME, or its final/ folder) or any "
                                   "model folder to the Hugging Face Hub.")
    p.add_argument("target", type=Path, metavar="RUN_OR_MODEL", help="a run folder or a model folder")
    p.add_argument("--repo-id", required=True, metavar="ORG/NAME")
    p.add_argument("--arm", help="which arm of a run folder (needed when it has several)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where to write the folder (default RUN/publish/ARM, or MODEL-hub next to a model)")
    p.add_argument("--license", default="other", help="the model's Hub license id (default: other)")
    p.add_argument("--private", action="store_true", help="create the Hub repository as private")
    p.add_argument("--dry-run", action="store_true", help="write and validate the folder, upload nothing")
    p.add_argument("--endpoint", default=None, help="Hub endpoint (default: huggingface_hub's, $HF_ENDPOINT)")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    folder = build_folder(args.target, args.repo_id, args.out, args.arm, args.license)
    print(f"wrote {folder} ({', '.join(sorted(p.name for p in folder.iterdir()))}); card validated")
    if args.dry_run:
        print("dry run: nothing uploaded")
        return 0
    url = upload(folder, args.repo_id, args.private, args.endpoint)
    print(f"uploaded to {args.repo_id}: {url}")
    return 0
