"""Extend a trained vocabulary with pieces learned on new-language text (Glot500 / CINO style).

How ids of old tokens are preserved:
- SentencePiece ids: the base ModelProto is copied and new pieces are *appended*, so every base
  piece keeps its id; new pieces get ids `len(base) … len(base)+K-1`.
- HF ids: SentencePiece ids are HF ids (see `vocab.export`), except `<mask>`, which XLM-R keeps as
  the last id; it moves from `len(base)` to `len(base)+K`. `mapping.json` lists old HF id → new HF
  id (identity except `<mask>`); `vocab.embeddings.resize_embeddings` moves the `<mask>` row.

Scores: for unigram models a new piece keeps its log-probability from the model trained on the added
text, which is what lets it win over the base pieces on that text; for BPE (score = −merge rank) new
pieces are ranked after every base merge, in their own merge order, so base segmentations of text
that the new pieces do not cover are unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpora.corpus import corpus_inputs
from corpora.sampling import check_alpha
from vocab.export import (
    MASK,
    NORMAL,
    SPM_FILE,
    SPM_VOCAB_FILE,
    check_xlmr_ids,
    export_hf,
    load_proto,
    write_vocab_file,
)
from vocab.lines import lines_by_lang
from vocab.stats import compute_stats, model_file_of, stats_markdown, write_stats
from vocab.train import max_vocab_from_error, remove_stale_temporaries, run_spm_trainer, sample_mix
from xling.core.config import save_config, to_dict
from xling.core.errors import InputError
from xling.core.io import atomic_path, write_json_atomic, write_text_atomic
from xling.core.locking import locked_output
from xling.core.report import markdown_table
from xling.core.stage import Stage, StageSpec, input_paths, require_finished_inputs
from xling.core.versions import versions

log = logging.getLogger(__name__)

MAPPING_FILE = "mapping.json"


@dataclass
class VocabExtendConfig:
    base: str = ""  # vocab folder from `xling vocab train` (or another extend)
    add: list[str] = field(default_factory=list)  # corpus folders and/or LANG=file specs of new text
    new_pieces: int = 1000  # K: at most this many pieces are appended
    out: str = ""
    # Size of the SentencePiece model learned on the added text; default 2K + 200 (many of its pieces
    # already exist in the base vocabulary). Lowered automatically to what the text supports.
    add_vocab_size: int | None = None
    alpha: float = 0.3
    sample_sentences: int | None = None
    seed: int = 0
    character_coverage: float = 0.9999
    num_threads: int = 2
    stats_lines: int = 2000

    def __post_init__(self) -> None:
        if self.new_pieces <= 0:
            raise InputError(f"new_pieces must be positive, got {self.new_pieces}")
        if self.add_vocab_size is not None and self.add_vocab_size < 16:
            raise InputError(f"add_vocab_size must be at least 16, got {self.add_vocab_size}")
        check_alpha(self.alpha)


def _learn_added(cfg: VocabExtendConfig, base_proto: Any, inputs: dict[str, list[Path]], work: Path
                 ) -> tuple[Any, dict[str, Any], Any]:
    """Train a SentencePiece model of the base's type on the added text; returns (proto, args, sample)."""
    sample = sample_mix(inputs, work / "add.txt", cfg.alpha, cfg.sample_sentences, cfg.seed)
    ts, ns = base_proto.trainer_spec, base_proto.normalizer_spec
    size = cfg.add_vocab_size or 2 * cfg.new_pieces + 200
    args = {
        "input": str(sample.path), "model_prefix": str(work / "add"), "vocab_size": size,
        "model_type": {1: "unigram", 2: "bpe"}[ts.model_type], "character_coverage": cfg.character_coverage,
        "byte_fallback": False, "normalization_rule_name": ns.name or "identity",
        "add_dummy_prefix": ns.add_dummy_prefix, "remove_extra_whitespaces": ns.remove_extra_whitespaces,
        "bos_id": 0, "pad_id": 1, "eos_id": 2, "unk_id": 3, "input_sentence_size": 0,
        "shuffle_input_sentence": False, "max_sentence_length": ts.max_sentence_length or 4192,
        "split_by_whitespace": ts.split_by_whitespace, "split_digits": ts.split_digits,
        "num_threads": cfg.num_threads, "minloglevel": 1,
    }
    try:
        run_spm_trainer(args, what="--add-vocab-size")
    except ValueError as e:
        most = max_vocab_from_error(e)
        if most is None or cfg.add_vocab_size is not None:
            raise
        log.info("added text supports only %d pieces; learning %d", most, most)
        args["vocab_size"] = most
        run_spm_trainer(args, what="--add-vocab-size")
    return load_proto(work / "add.model"), args, sample


def select_new_pieces(base_proto: Any, added_proto: Any, k: int) -> list[tuple[str, float]]:
    """Up to `k` (piece, score) of the added model that the base lacks, best-scored first."""
    have = {p.piece for p in base_proto.pieces} | {MASK}
    cands = [(p.score, i, p.piece) for i, p in enumerate(added_proto.pieces)
             if p.type == NORMAL and p.piece not in have]
    cands.sort(key=lambda t: (-t[0], t[1]))
    return [(piece, score) for score, _, piece in cands[:k]]


def extended_proto(base_proto: Any, new: list[tuple[str, float]]) -> Any:
    """A copy of `base_proto` with `new` appended (base ids untouched)."""
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.CopyFrom(base_proto)
    bpe = proto.trainer_spec.model_type == 2
    floor = min(p.score for p in base_proto.pieces if p.type == NORMAL) if bpe else 0.0
    for rank, (piece, score) in enumerate(new):
        sp = proto.pieces.add()
        sp.piece, sp.type = piece, NORMAL
        sp.score = floor - 1.0 - rank if bpe else score
    proto.trainer_spec.vocab_size = len(proto.pieces)
    return proto


def id_mapping(n_base: int, n_new: int) -> list[int]:
    """old HF id → new HF id for a vocabulary of `n_base` SentencePiece pieces grown to `n_new`."""
    return [*range(n_base), n_new]  # the last old id is <mask>, which stays last


def extend_stage(cfg: VocabExtendConfig) -> Stage:
    """The extension's stage contract: config, the base vocabulary and the added text."""
    paths = input_paths(cfg.add)
    inputs = {"base": cfg.base, **{f"add.{i}": p for i, p in enumerate(paths)}}
    return Stage(StageSpec("vocab-extend", Path(cfg.out), _cfg_key(cfg), inputs, EXTEND_OUTPUTS))


EXTEND_OUTPUTS = ("train_args.json", "sentencepiece.bpe.model", "tokenizer.json", "config.yaml", "report.md")


def is_complete(out: Path, cfg: VocabExtendConfig) -> bool:
    return extend_stage(dataclasses.replace(cfg, out=str(out))).is_finished()


def _cfg_key(cfg: VocabExtendConfig) -> dict:
    d = to_dict(cfg)
    d.pop("num_threads", None)
    d.pop("out", None)
    return d


@locked_output(lambda a: a["cfg"].out)
def extend_vocab(cfg: VocabExtendConfig, force: bool = False, allow_partial: bool = False) -> Path:
    """Write the extended vocabulary folder `cfg.out` (atomically) and return it.
    One run per output folder at a time (`locked_output`)."""
    if not cfg.out:
        raise InputError("no output folder given (--out)")
    out = Path(cfg.out)
    require_finished_inputs([cfg.base, *cfg.add], allow_partial)
    stage = extend_stage(cfg)
    if stage.begin(force, write=False) == "finished":
        log.info("%s already holds this extension; nothing to do", out)
        return out
    base_file = model_file_of(cfg.base)
    base_proto = load_proto(base_file)
    check_xlmr_ids(base_proto, str(base_file))
    inputs = corpus_inputs(cfg.add)
    remove_stale_temporaries(out)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        work = tmp.parent / "work"  # the sampled text goes with atomic_path's folder, not to /tmp
        work.mkdir()
        added_proto, args, sample = _learn_added(cfg, base_proto, inputs, work)
        new = select_new_pieces(base_proto, added_proto, cfg.new_pieces)
        if not new:
            raise InputError(f"the added text yields no piece missing from {base_file}; nothing to extend")
        proto = extended_proto(base_proto, new)
        (tmp / SPM_FILE).write_bytes(proto.SerializeToString())
        write_vocab_file(proto, tmp / SPM_VOCAB_FILE)
        export_hf(tmp / SPM_FILE, tmp)
        n_base, n_new = len(base_proto.pieces), len(proto.pieces)
        write_json_atomic(tmp / MAPPING_FILE, {
            "base": str(Path(cfg.base)),
            "base_hf_size": n_base + 1, "new_hf_size": n_new + 1,
            "moved": {"<mask>": [n_base, n_new]},
            "old_to_new": id_mapping(n_base, n_new),
            "added": [{"id": n_base + i, "piece": p} for i, (p, _) in enumerate(new)],
        })
        write_json_atomic(tmp / "train_args.json", {
            "config": _cfg_key(cfg),
            "base_model_sha256": hashlib.sha256(base_file.read_bytes()).hexdigest(),
            "added_sentencepiece": dict(args, input="<sampled mix, see sample>", model_prefix="add"),
            "added_model_pieces": len(added_proto.pieces),
            "new_pieces": len(new),
            "sampling_plan": sample.plan.to_json(),
            "sample": {"lines_per_lang": sample.drawn, "lines": sum(sample.drawn.values()),
                       "sha256": sample.sha256},
            "versions": versions(),
        })
        save_config(cfg, tmp / "config.yaml")
        texts = lines_by_lang(inputs, cfg.stats_lines)
        before, after = compute_stats(base_file, texts), compute_stats(tmp, texts)
        write_extend_report(tmp, cfg, before, after, new, n_base)
        stage.finish({"new_pieces": len(new)}, folder=tmp)
    return out


def write_extend_report(out: Path, cfg: VocabExtendConfig, before: dict, after: dict,
                        new: list[tuple[str, float]], n_base: int) -> Path:
    write_stats(before, out, "stats_base", title="Fertility, base vocabulary")
    write_stats(after, out, "stats", title="Fertility on the added text: base vs extended",
                compare={"base": before}, label="extended")
    rows = [[k, before[k].fertility, after[k].fertility, 100 * before[k].unk_share, 100 * after[k].unk_share,
             before[k].chars_per_piece, after[k].chars_per_piece] for k in after]
    write_json_atomic(out / "fertility_change.json",
                      {k: {"base": before[k].fertility, "extended": after[k].fertility} for k in after})
    shown = ", ".join(f"`{p}`" for p, _ in new[:30])
    text = "\n".join([
        f"# Extended vocabulary: {n_base:,} + {len(new):,} pieces (+ `<mask>`)", "",
        f"Base: `{cfg.base}`  ", f"Added text: {', '.join(cfg.add)}", "",
        "Old SentencePiece/HF ids are unchanged; `<mask>` moves from "
        f"{n_base:,} to {n_base + len(new):,} (`mapping.json`).", "",
        f"## Change on the added text (first {cfg.stats_lines:,} lines per language)", "",
        markdown_table(["lang", "fertility base", "fertility ext", "unk % base", "unk % ext",
                        "chars/piece base", "chars/piece ext"], rows),
        "", "![fertility](stats_fertility.png)", "", "## Extended vocabulary statistics", "",
        stats_markdown(after), "", "## First added pieces (best score first)", "", shown, "",
    ])
    return write_text_atomic(out / "report.md", text)
