"""Train a shared SentencePiece vocabulary on a temperature-sampled mix of languages.

Pipeline: resolve inputs → count lines per language → `corpora.sampling.sampling_plan` (p ∝ n^α, in
lines) → draw each language's share deterministically (`seed`) into a temporary text file →
SentencePiece → HF export → statistics report. Everything is written into a temporary folder that
`xling.core.io.atomic_path` renames onto `out` only when complete, with its completion record
`stage.json` (`xling.core.stage`) inside; re-running with the same config and inputs on a
finished folder does nothing, other settings are refused naming them (`--force` retrains).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from corpora.corpus import corpus_inputs
from corpora.sampling import check_alpha, sampling_plan
from vocab.export import SPM_FILE, export_hf
from vocab.lines import count_lines, iter_lines, lines_by_lang
from vocab.stats import compute_stats, stats_markdown, write_stats
from xling.core.config import save_config, to_dict
from xling.core.errors import InputError
from xling.core.io import atomic_path, write_json_atomic, write_text_atomic
from xling.core.locking import locked_output
from xling.core.report import markdown_table
from xling.core.stage import Stage, StageSpec, input_paths, require_finished_inputs
from xling.core.versions import versions

log = logging.getLogger(__name__)

TRAIN_ARGS_FILE = "train_args.json"


@dataclass
class VocabTrainConfig:
    inputs: list[str] = field(default_factory=list)  # corpus folders and/or LANG=file specs
    out: str = ""
    vocab_size: int = 32000
    model_type: Literal["unigram", "bpe"] = "unigram"
    alpha: float = 0.3
    sample_sentences: int | None = None  # total lines in the mix; None = as many as the corpus has
    seed: int = 0
    # High enough that rare letters of each script (Uyghur ژ, Kazakh һ) get pieces of their own.
    character_coverage: float = 0.9999
    byte_fallback: bool = False
    # identity keeps our corpora normalisers' output byte for byte (see docs/vocab.md for nmt_nfkc).
    normalization: Literal["identity", "nfkc", "nmt_nfkc"] = "identity"
    max_sentence_length: int = 4192  # bytes; SentencePiece skips longer lines
    num_threads: int = 2
    stats_lines: int = 2000  # lines per language measured for the report
    view: list[str] = field(default_factory=list)  # languages read through their Latin view (xling.translit)

    def __post_init__(self) -> None:
        if self.vocab_size < 16:
            raise InputError(f"vocab_size must be at least 16, got {self.vocab_size}")
        check_alpha(self.alpha)
        if self.sample_sentences is not None and self.sample_sentences <= 0:
            raise InputError(f"sample_sentences must be positive, got {self.sample_sentences}")
        if not 0.9 <= self.character_coverage <= 1.0:
            raise InputError(f"character_coverage must be within [0.9, 1], got {self.character_coverage}")
        for key in ("max_sentence_length", "num_threads", "stats_lines"):
            if getattr(self, key) < 1:
                raise InputError(f"{key} must be ≥ 1, got {getattr(self, key)}")


@dataclass
class SampledText:
    path: Path
    plan: Any  # corpora.sampling.SamplingPlan
    drawn: dict[str, int]
    sha256: str


def sample_mix(inputs: dict[str, list[Path]], out_file: str | os.PathLike, alpha: float = 0.3,
               total: int | None = None, seed: int = 0, view: list[str] | None = None) -> SampledText:
    """Write a temperature-sampled mix of lines to `out_file`, deterministic in `seed`.

    Language `l` gets round(p_l · total) lines: whole passes over its lines when that exceeds its size
    (upsampling a low-resource language), plus a seeded sample without replacement for the rest.
    Two streaming passes (count, then copy), so memory does not grow with the corpus.
    """

    from xling.translit import text_view

    sizes = {}
    for lang, files in sorted(inputs.items()):
        sizes[lang] = count_lines(files)
        if sizes[lang] == 0:
            raise InputError(f"{lang}: no text in {', '.join(map(str, files))} (empty input)")
    plan = sampling_plan(sizes, alpha=alpha, total=total or sum(sizes.values()), unit="lines")
    drawn: dict[str, int] = {}
    digest = hashlib.sha256()
    with open(out_file, "w", encoding="utf-8") as out:
        for lang, files in sorted(inputs.items()):
            n = sizes[lang]
            want = round(plan.languages[lang].p_sampled * plan.total)
            passes, rest = divmod(want, n)
            # Seeded per language so adding a language does not reshuffle the others' draws.
            extra = set(random.Random(f"{seed}:{lang}").sample(range(n), rest))
            see = text_view(lang, view or [])
            for i, line in enumerate(tqdm(iter_lines(files), total=n, desc=f"sample {lang}", unit="line",
                                          leave=False, disable=None)):
                k = passes + (i in extra)
                if k:
                    data = (see(line) + "\n") * k
                    out.write(data)
                    digest.update(data.encode("utf-8"))
            drawn[lang] = want
    return SampledText(Path(out_file), plan, drawn, digest.hexdigest())


def spm_args(cfg: VocabTrainConfig, input_file: str, model_prefix: str) -> dict[str, Any]:
    """The exact SentencePiece trainer arguments (XLM-R special ids, see vocab/export.py)."""
    return {
        "input": input_file, "model_prefix": model_prefix, "vocab_size": cfg.vocab_size,
        "model_type": cfg.model_type, "character_coverage": cfg.character_coverage,
        "byte_fallback": cfg.byte_fallback, "normalization_rule_name": cfg.normalization,
        "bos_id": 0, "pad_id": 1, "eos_id": 2, "unk_id": 3,
        "input_sentence_size": 0, "shuffle_input_sentence": False,  # the mix is already sampled
        "max_sentence_length": cfg.max_sentence_length, "num_threads": cfg.num_threads,
        "split_digits": False, "minloglevel": 1,
    }


_TOO_HIGH = re.compile(r"Vocabulary size (?:is )?too high \((\d+)\)\. Please set it to a value <= (\d+)")


def run_spm_trainer(args: dict[str, Any], what: str = "--vocab-size") -> None:
    """Run SentencePiece; its vocabulary-size error is rephrased with the maximum it suggests."""
    import sentencepiece as spm

    try:
        spm.SentencePieceTrainer.train(**args)
    except RuntimeError as e:
        m = _TOO_HIGH.search(str(e))
        if m:
            raise InputError(f"{what} {m.group(1)} is larger than the training text supports: SentencePiece "
                             f"can build at most {m.group(2)} pieces from it; lower {what} to "
                             f"≤ {m.group(2)} or add text") from None
        raise InputError(f"SentencePiece training failed: {e}") from None


def max_vocab_from_error(e: Exception) -> int | None:
    m = re.search(r"at most (\d+) pieces", str(e))
    return int(m.group(1)) if m else None


VOCAB_OUTPUTS = (TRAIN_ARGS_FILE, "sentencepiece.bpe.model", "tokenizer.json", "config.yaml", "report.md")


def vocab_stage(cfg: VocabTrainConfig, kind: str = "vocab-train", inputs: list[str] | None = None) -> Stage:
    """The vocabulary stage's contract (`xling.core.stage`); `num_threads` does not change the result."""
    paths = input_paths(cfg.inputs if inputs is None else inputs)
    return Stage(StageSpec(kind, Path(cfg.out), _cfg_key(cfg), {f"inputs.{i}": p for i, p in enumerate(paths)},
                           VOCAB_OUTPUTS))


def is_complete(out: Path, cfg: VocabTrainConfig) -> bool:
    """A finished folder trained with the same config and inputs (what `xling run` asks)."""
    return vocab_stage(dataclasses.replace(cfg, out=str(out))).is_finished()


def _cfg_key(cfg: VocabTrainConfig) -> dict:
    d = to_dict(cfg)
    d.pop("num_threads", None)  # does not change the result
    d.pop("out", None)
    return d


@locked_output(lambda a: a["cfg"].out)
def train_vocab(cfg: VocabTrainConfig, force: bool = False, allow_partial: bool = False) -> Path:
    """Train into `cfg.out` (atomically); returns the folder. Finished with this config and inputs:
    nothing to do; finished with others: refused naming them, unless `force` (retrain). Input
    folders of an unfinished stage are refused unless `allow_partial`."""

    if not cfg.out:
        raise InputError("no output folder given (--out)")
    out = Path(cfg.out)
    require_finished_inputs(cfg.inputs, allow_partial)
    stage = vocab_stage(cfg)
    if stage.begin(force, write=False) == "finished":
        log.info("%s already holds a vocabulary trained with this config; nothing to do", out)
        return out
    inputs = corpus_inputs(cfg.inputs)
    remove_stale_temporaries(out)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        # The sampled mix (the whole training text) lives in atomic_path's temporary folder next to
        # `out`, not in /tmp: it goes with that folder, and a killed run's copy is removed on re-run.
        work = tmp.parent / "work"
        work.mkdir()
        sample = sample_mix(inputs, work / "mix.txt", cfg.alpha, cfg.sample_sentences, cfg.seed, cfg.view)
        log.info("sampled %s lines (%s)", f"{sum(sample.drawn.values()):,}",
                 ", ".join(f"{k} {v:,}" for k, v in sample.drawn.items()))
        args = spm_args(cfg, str(sample.path), str(tmp / SPM_FILE.removesuffix(".model")))
        run_spm_trainer(args)
        export_hf(tmp / SPM_FILE, tmp)
        recorded = dict(args, input="<sampled mix, see sample>", model_prefix="sentencepiece.bpe")
        write_json_atomic(tmp / TRAIN_ARGS_FILE, {
            "config": _cfg_key(cfg),
            "sentencepiece": recorded,
            "sampling_plan": sample.plan.to_json(),
            "sample": {"lines_per_lang": sample.drawn, "lines": sum(sample.drawn.values()),
                       "sha256": sample.sha256},
            "inputs": {k: [str(f) for f in v] for k, v in inputs.items()},
            "versions": versions(),
        })
        save_config(cfg, tmp / "config.yaml")
        write_train_report(tmp, cfg, inputs, sample)
        # the record goes in with the rest: the folder appears finished or not at all
        stage.finish({"lines": sum(sample.drawn.values()), "sample_sha256": sample.sha256}, folder=tmp)
    return out


def remove_stale_temporaries(out: Path) -> None:
    """Remove what a killed run of this folder left (`atomic_path`'s `.tmp-<name>-*`/`.old-<name>-*`
    siblings). Safe only under the folder's lock (`xling.core.locking`), which `train_vocab` holds."""
    if out.parent.is_dir():
        for stale in out.parent.glob(f".tmp-{out.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        for stale in sorted(out.parent.glob(f".old-{out.name}-*")):
            if not out.exists():  # killed between atomic_path's two renames: the old result comes back
                os.replace(stale, out)
            else:
                shutil.rmtree(stale, ignore_errors=True)


def write_train_report(out: Path, cfg: VocabTrainConfig, inputs: dict[str, list[Path]],
                       sample: SampledText) -> Path:
    """`report.md` with the sampling plan and per-language statistics (+ `stats.*`, fertility PNG)."""
    from xling.translit import text_view, view_label

    # a viewed language is reported under the script the tokenizer reads (uig_Latn, not uig_Arab)
    stats = compute_stats(out, {view_label(lang, cfg.view): [text_view(lang, cfg.view)(x) for x in lines]
                                for lang, lines in lines_by_lang(inputs, cfg.stats_lines).items()})
    write_stats(stats, out, "stats", title=f"Fertility, {cfg.model_type} {cfg.vocab_size:,} pieces")
    plan_rows = [[k, int(v.size), v.p_natural * 100, v.p_sampled * 100, sample.drawn[k], v.repeats]
                 for k, v in sample.plan.languages.items()]
    text = "\n".join([
        f"# Vocabulary: {cfg.model_type}, {cfg.vocab_size:,} pieces (+ `<mask>`)", "",
        f"Inputs: {', '.join(cfg.inputs)}  ",
        f"α = {cfg.alpha}, seed {cfg.seed}, character_coverage {cfg.character_coverage}, "
        f"byte_fallback {cfg.byte_fallback}, normalization `{cfg.normalization}`", "",
        "## Sampling plan (unit: lines)", "",
        markdown_table(["lang", "lines", "natural %", "sampled %", "drawn", "repeats"], plan_rows),
        "", f"## Statistics (first {cfg.stats_lines:,} lines per language)", "",
        stats_markdown(stats), "", "![fertility](stats_fertility.png)", "",
    ])
    return write_text_atomic(out / "report.md", text)
