"""`xling corpora mix`: materialise a temperature-sampled (p ∝ n^α) multilingual mix.

Writes `MIX/plan.json` (the `corpora.sampling.sampling_plan` numbers), `MIX/<lang>/*.jsonl.gz`
(each language's documents repeated/subsampled to its planned share, shuffled with the seed) and
`MIX/report.md` with a before/after language-share chart.

A language planned at r = target / size passes over its data takes ⌊r⌋ full copies plus a seeded
random subset for the fraction (documents taken in a random order until the remainder is
reached, overshooting by at most one document). Copies carry `repeat: k` (0 = first copy).
Each language is written as a folder atomically and marked done, so a killed run resumes at the
next language; the same inputs and seed give byte-identical files.
"""

from __future__ import annotations

import argparse
import logging
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from corpora import stage_io
from corpora.corpus import corpus_inputs
from corpora.sampling import AlphaSchedule, check_alpha, sampling_plan
from corpora.stage_io import check_reading_limits
from xling.core.config import add_set_option, load_config, save_config, to_dict
from xling.core.errors import InputError
from xling.core.io import atomic_path, read_json, write_json_atomic, write_text_atomic
from xling.core.locking import locked_output
from xling.core.paths import resolve_data_path
from xling.core.report import bar_chart, line_chart, markdown_table
from xling.core.stage import add_allow_partial_option

log = logging.getLogger(__name__)

UNITS = ("chars", "docs", "tokens")


@dataclass
class MixConfig:
    alpha: float = 0.3
    unit: Literal["chars", "docs", "tokens"] = "chars"
    # For unit=tokens: a SentencePiece `.model` file or a Hugging Face tokenizer folder; without
    # one, tokens are whitespace-separated words.
    tokenizer: str | None = None
    total: float | None = None  # units to draw in all (default: the corpus size)
    max_repeats: float | None = None  # cap on passes over any one language (capped mass is redistributed)
    seed: int = 0
    languages: list[str] = field(default_factory=list)  # mix only these (empty: every language found)
    # Optional α schedule over training phases, [[start_fraction, alpha], ...]: recorded in plan.json
    # for the dynamic sampler (`corpora.sampling.LanguageSampler`); the materialised mix uses `alpha`.
    schedule: list[tuple[float, float]] | None = None
    anneal: bool = True
    shard_docs: int = stage_io.SHARD_DOCS
    max_line_bytes: int = stage_io.MAX_LINE_BYTES  # longer input lines are skipped and counted

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        if self.unit not in UNITS:
            raise InputError(f"unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if self.tokenizer and self.unit != "tokens":
            raise InputError(f"tokenizer is only used with unit=tokens (unit is {self.unit!r})")
        if self.schedule is not None:
            AlphaSchedule([tuple(p) for p in self.schedule], anneal=self.anneal)
        if self.total is not None and not self.total > 0:
            raise InputError(f"total must be a positive number of {self.unit}, got {self.total}")
        if self.max_repeats is not None and not self.max_repeats > 0:
            raise InputError(f"max_repeats must be positive (passes over one language's data), got {self.max_repeats}")
        if self.seed < 0:
            raise InputError(f"seed must be ≥ 0, got {self.seed}")
        check_reading_limits(self)


def doc_units(text: str, unit: str) -> int:
    """Size of one document in `unit` (tokens = whitespace words; see `UnitCounter` for subwords)."""
    if unit == "chars":
        return len(text)
    if unit == "tokens":
        return len(text.split())
    return 1


class UnitCounter:
    """Sizes of batches of documents in the configured unit (subword tokens with a tokenizer)."""

    def __init__(self, unit: str, tokenizer: str | None = None) -> None:
        self.unit = unit
        self._encode = None
        if tokenizer and unit == "tokens":
            path = resolve_data_path(tokenizer)
            if path.is_file():
                import sentencepiece as spm

                sp = spm.SentencePieceProcessor(model_file=str(path))
                self._encode = lambda texts: [len(ids) for ids in sp.encode(texts)]
            elif path.is_dir():
                from transformers import AutoTokenizer

                tok = AutoTokenizer.from_pretrained(str(path))
                self._encode = lambda texts: [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]
            else:
                raise FileNotFoundError(f"tokenizer: {path} is neither a SentencePiece model file nor a folder")

    def __call__(self, texts: list[str]) -> np.ndarray:
        if self._encode is not None:
            return np.array(self._encode(texts), dtype=np.float64)
        return np.array([doc_units(t, self.unit) for t in texts], dtype=np.float64)


def _lang_rng(seed: int, lang: str) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([seed, zlib.crc32(lang.encode())]))


def select_copies(units: np.ndarray, target: float, rng: np.random.Generator) -> np.ndarray:
    """(doc index, repeat) pairs reaching `target` units: ⌊target/size⌋ full passes + a random remainder."""
    size = float(units.sum())
    n = len(units)
    full = int(target // size) if size else 0
    rest = target - full * size
    pairs = [np.stack([np.arange(n), np.full(n, r)], axis=1) for r in range(full)]
    order = rng.permutation(n)
    if rest > 0 and n:
        k = min(int(np.searchsorted(np.cumsum(units[order]), rest, side="left")) + 1, n)
        pairs.append(np.stack([np.sort(order[:k]), np.full(k, full)], axis=1))
    return np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64)


def corpus_sizes(inputs: dict[str, list[Path]], unit: str | UnitCounter,
                 max_line_bytes: int = stage_io.MAX_LINE_BYTES) -> tuple[dict[str, float], dict[str, Counter]]:
    """Units per language (and broken-input counts) from a first streaming pass."""
    count = unit if isinstance(unit, UnitCounter) else UnitCounter(unit)
    sizes: dict[str, float] = {}
    bad: dict[str, Counter] = {}
    for lang, files in inputs.items():
        bad[lang] = Counter()
        total = 0.0
        batch: list[str] = []
        for d in stage_io.iter_docs(files, lang, bad[lang], max_line_bytes):
            batch.append(d["text"])
            if len(batch) == 1024:
                total += float(count(batch).sum())
                batch = []
        sizes[lang] = total + (float(count(batch).sum()) if batch else 0.0)
    return sizes, bad


MIX_OUTPUTS = (".done", "plan.json", "stats.json", "report.md", "config.yaml", "shares.png", "schedule.png")


@locked_output(lambda a: a["out"])
def mix_corpus(inputs: list[str | Path], out: str | Path, config: MixConfig | None = None,
               overwrite: bool = False, progress: bool = True, allow_partial: bool = False) -> Path:
    """Write the temperature-sampled mix of `inputs` to `out`; returns `out`. Resumes a killed run.
    One run per output folder at a time (`locked_output`)."""
    config = config or MixConfig()
    out = Path(out)
    files = corpus_inputs(inputs)
    if config.languages:
        missing = sorted(set(config.languages) - set(files))
        if missing:
            raise InputError(f"languages: {', '.join(missing)} not found in {', '.join(map(str, inputs))} "
                             f"(found: {', '.join(files)})")
        files = {k: v for k, v in files.items() if k in config.languages}
    cfg = to_dict(config)
    stage = stage_io.begin_stage("corpus-mix", out, cfg, inputs, overwrite, allow_partial,
                                 outputs=(*MIX_OUTPUTS, *files))
    if stage is None:
        return out
    save_config(config, out / "config.yaml")
    counter = UnitCounter(config.unit, config.tokenizer)
    sizes, bad = corpus_sizes(files, counter, config.max_line_bytes)
    empty = [k for k, v in sizes.items() if not v]
    if empty:
        raise InputError(f"languages with no usable documents in {', '.join(map(str, inputs))}: {', '.join(empty)}")
    plan = sampling_plan(sizes, config.alpha, total=config.total, max_repeats=config.max_repeats, unit=config.unit)
    plan_json = plan.to_json() | {"seed": config.seed}
    if config.schedule is not None:
        sched = AlphaSchedule([tuple(p) for p in config.schedule], anneal=config.anneal)
        points = sorted({0.0, 0.25, 0.5, 0.75, 1.0} | {float(s) for s, _ in config.schedule})
        plan_json["schedule"] = {
            "phases": [list(p) for p in config.schedule], "anneal": config.anneal,
            "points": [{"progress": x, "alpha": sched.alpha_at(x),
                        "p_sampled": sampling_plan(sizes, sched.alpha_at(x), total=config.total,
                                                   max_repeats=config.max_repeats, unit=config.unit).probabilities()}
                       for x in points]}
    write_json_atomic(out / "plan.json", plan_json)
    written: dict[str, dict] = {}
    for lang, lp in plan.languages.items():
        info = stage_io.lang_done(out, lang)
        if info is None:
            info = _mix_language(out, lang, files[lang], lp.p_sampled * plan.total, config, counter, progress)
            info["broken_input"] = dict(sorted(bad[lang].items()))
            stage_io.mark_lang_done(out, lang, info)
            log.info("mix %s: %d docs → %d written (%.2f× planned)", lang, info["docs_in"], info["docs_written"],
                     lp.repeats)
        written[lang] = info
    total_written = sum(v["units_written"] for v in written.values()) or 1.0
    stats = {"stage": "mix", "plan": plan_json, "languages": {
        k: v | {"share_written": v["units_written"] / total_written} for k, v in written.items()}}
    stage_io.finish_stage(out, stats, stage)
    _write_report(out, plan_json, stats)
    return out


def _mix_language(out: Path, lang: str, files: list[Path], target: float, config: MixConfig,
                  counter: UnitCounter, progress: bool) -> dict:
    """Write `out/<lang>/` with `target` units of the language's documents, shuffled; returns its stats."""
    docs = list(stage_io.iter_docs(files, lang, Counter(), config.max_line_bytes))
    units = counter([d["text"] for d in docs]) if docs else np.empty(0)
    rng = _lang_rng(config.seed, lang)
    pairs = select_copies(units, target, rng)
    pairs = pairs[rng.permutation(len(pairs))]
    rows = ({**docs[i], "repeat": r} for i, r in tqdm(pairs.tolist(), desc=f"mix {lang}", unit=" docs",
                                                       disable=not progress, leave=False))
    with atomic_path(out / lang) as tmp:
        stage_io.write_shards(tmp, rows, shard_docs=config.shard_docs)
    return {"docs_in": len(docs), "docs_written": len(pairs), "units_written": float(units[pairs[:, 0]].sum())}


def _write_report(out: Path, plan: dict, stats: dict) -> None:
    langs = plan["languages"]
    bar_chart(out / "shares.png", {
        "before (natural)": {k: 100 * v["p_natural"] for k, v in langs.items()},
        f"after (α={plan['alpha']:g})": {k: 100 * v["p_sampled"] for k, v in langs.items()},
        "written": {k: 100 * v["share_written"] for k, v in stats["languages"].items()},
    }, title=f"Language shares before/after temperature sampling ({plan['unit']})", ylabel="% of the corpus")
    rows = [[k, int(v["size"]), 100 * v["p_natural"], 100 * v["p_sampled"], v["repeats"],
             stats["languages"][k]["docs_in"], stats["languages"][k]["docs_written"],
             100 * stats["languages"][k]["share_written"]] for k, v in langs.items()]
    lines = [
        "# Temperature-sampled mix", "",
        f"p_sampled = n^α / Σ n^α with α = {plan['alpha']:g} over {plan['unit']}, total {plan['total']:,.0f} "
        f"{plan['unit']}, max repeats {plan['max_repeats']}, seed {plan['seed']}.", "",
        markdown_table(["lang", f"size ({plan['unit']})", "p_natural %", "p_sampled %", "repeats", "docs in",
                        "docs written", "written %"], rows),
        "", "![language shares](shares.png)", ""]
    if "schedule" in plan:
        pts = plan["schedule"]["points"]
        line_chart(out / "schedule.png", {k: ([p["progress"] for p in pts], [100 * p["p_sampled"][k] for p in pts])
                                          for k in langs}, title="Language shares over training (α schedule)",
                   xlabel="training progress", ylabel="% of sampled data")
        lines += ["## α schedule", "", markdown_table(["progress", "alpha", *langs], [
            [p["progress"], p["alpha"], *(100 * p["p_sampled"][k] for k in langs)] for p in pts]),
            "", "![schedule](schedule.png)", ""]
    write_text_atomic(out / "report.md", "\n".join(lines))


def parse_schedule(spec: str) -> list[tuple[float, float]]:
    """`0:0.7,1:0.3` → [(0.0, 0.7), (1.0, 0.3)]."""
    try:
        return [(float(a), float(b)) for a, b in (item.split(":") for item in spec.split(","))]
    except ValueError:
        raise InputError(f"--alpha-schedule {spec!r}: expected START:ALPHA pairs like 0:0.7,1:0.3") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mix", help="temperature-sampled language rebalancing (p ∝ n^α)",
                       description="Sample every language to its n^α share; write plan.json, shards and a report.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="corpus folder(s) and/or LANG=file.txt")
    p.add_argument("--out", required=True, type=Path, help="output folder MIX")
    p.add_argument("--alpha", type=float, help="temperature exponent α (default 0.3)")
    p.add_argument("--unit", choices=UNITS, help="size unit (default chars)")
    p.add_argument("--tokenizer", help="with --unit tokens: SentencePiece .model or HF tokenizer folder")
    p.add_argument("--total", type=float, help="units to draw in all (default: corpus size)")
    p.add_argument("--max-repeats", type=float, help="cap on passes over one language's data")
    p.add_argument("--seed", type=int, help="sampling seed (default 0)")
    p.add_argument("--languages", nargs="+", metavar="LANG", help="mix only these languages")
    p.add_argument("--alpha-schedule", help="α over training phases, e.g. 0:0.7,1:0.3 (recorded in plan.json)")
    p.add_argument("--no-anneal", action="store_true", help="piecewise-constant schedule instead of linear")
    p.add_argument("--config", type=Path, help="YAML MixConfig")
    add_set_option(p, "alpha=0.5")
    p.add_argument("--force", "--overwrite", dest="overwrite", action="store_true",
                   help="redo the stage in MIX even if it finished or was started with other settings or inputs")
    add_allow_partial_option(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    flags = {"alpha": args.alpha, "unit": args.unit, "total": args.total, "max_repeats": args.max_repeats,
             "seed": args.seed, "tokenizer": args.tokenizer, "languages": args.languages or None,
             "schedule": parse_schedule(args.alpha_schedule) if args.alpha_schedule else None,
             "anneal": False if args.no_anneal else None}
    config = load_config(MixConfig, args.config, args.overrides, flags)
    out = mix_corpus(args.inputs, args.out, config, overwrite=args.overwrite, allow_partial=args.allow_partial)
    plan = read_json(out / "plan.json")
    stats = read_json(out / "stats.json")
    print(f"α = {plan['alpha']:g}, unit = {plan['unit']}, total = {plan['total']:,.0f}")
    for k, v in plan["languages"].items():
        print(f"  {k}: p_natural {v['p_natural']:.4f} → p_sampled {v['p_sampled']:.4f} "
              f"({v['repeats']:.2f}×, {stats['languages'][k]['docs_written']:,} docs)")
    print(f"wrote {out}/plan.json, {out}/<lang>/*.jsonl.gz, {out}/report.md")
    return 0
