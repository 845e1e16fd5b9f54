"""`xling bt train`: train the Marian-style back-translation model on parallel data.

Pairs come from `xling.parallel` (same readers and cleaning as the pretraining parallel stream).
A held-out slice per language pair (`valid_pairs`) is written to `OUT/valid/<a>-<b>.tsv` and
never trained on; the final model is scored on it in both directions. Every pair trains both
directions (`>>tgt<<`-tagged sources). The batch order is a function of (seed, step), so a
resumed run (from `OUT/checkpoints/step-NNNNNN/`, written atomically every `save_every` steps
in the one checkpoint format of `xling.core.checkpoint`, RNG included) repeats exactly what the
uninterrupted run would have done. The loop itself (lr schedule, clipping, logging, checkpoints)
is the shared core of `xling.core.train_loop`.

With `init_from` (a pretraining run's `final/` folder) the model is warm-started BERT2BERT-style
(`xling.bt.model.warm_start_model`); without it, a random-init Marian model of `model.size`.
Checkpoint selection: every `eval_every` steps the first `eval_pairs` held-out pairs are translated
greedily in both directions; the weights with the best mean chrF are kept in `OUT/best/` and become
`OUT/model/` at the end (dev rows in metrics.jsonl carry `dev_chrf`).

Outputs: `OUT/model/` (seq2seq model + tokenizer with language tags), `OUT/config.yaml`,
`OUT/metrics.jsonl`, `OUT/scores.json`, `OUT/report.md` + `OUT/loss.png`.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from eval_xtreme.uncertainty import format_ci, format_delta
from xling.bt.model import (
    BT_TAG,
    BTModelConfig,
    CrossAttentionInit,
    build_model,
    decoder_prefix,
    encode_sources,
    encode_targets,
    load_tokenizer_with_tags,
    teacher_forcing,
    warm_start_model,
)
from xling.bt.score import TestSet, corpus_scores
from xling.bt.translate import score_model, translate_texts
from xling.core.config import save_config, to_dict
from xling.core.errors import InputError
from xling.core.io import atomic_path, read_jsonl, write_json_atomic, write_text_atomic
from xling.core.paths import resolve_data_path
from xling.core.report import line_chart, markdown_table
from xling.core.stage import Stage, StageSpec, require_finished_inputs, without_new_defaults
from xling.core.tracking import TRACKING_OUTPUTS, Backend, check_report_to
from xling.core.train_loop import (
    MetricsLog,
    OptimizerStep,
    Precision,
    autocast,
    lr_at,
    resolve_precision,
    restore_rng,
    resume_training,
    save_training,
)
from xling.parallel import ParallelConfig, fingerprint_config, load_parallel, source_files, write_tsv_pairs

log = logging.getLogger(__name__)


@dataclass
class BTTrainConfig:
    tokenizer: str = ""  # the pretraining tokenizer folder (shared vocabulary); default: init_from
    # a pretraining run's `final/` folder: warm-start encoder and decoder from it (BERT2BERT); the
    # model's shape is then the pretrained one and `model.size`/layers/... are not used
    init_from: str = ""
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    model: BTModelConfig = field(default_factory=BTModelConfig)
    steps: int = 2000
    batch_size: int = 32
    lr: float = 5e-4
    warmup_steps: int = 200
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    label_smoothing: float = 0.1
    # Copied target-language text (Currey et al. 2017, "Copied monolingual data improves low-resource
    # neural machine translation"): this share of the training examples again, each a training
    # target sentence in language L tagged >>L<< and paired with itself. It teaches the decoder to
    # write what it reads (names, numbers, loanwords: what copying the whole source gets right).
    copy_ratio: float = 0.0
    # Tagged back-translation (Caswell et al. 2019): the source of a pair with a machine-made side
    # (`parallel.sources[].synthetic`) starts with the `<bt>` token after the language tag, so the
    # model tells machine-written input from real input; real input at translation time has no tag.
    bt_tag: bool = False
    # Length-sorted pools of this many batches (Marian's maxi-batch; 0: random batches). Batches then
    # hold sentences of similar length and carry less padding: on the apertium pairs 87 % of the padded
    # tokens are real with 100 against 62 % with random batches, the same examples per step. Measured
    # there, it teaches less per step than random batches (docs/experiments.md), so it is off.
    maxi_batch: int = 0
    # How a warm start initialises the decoder's new cross-attention: "random" (seeded, Rothe et al.)
    # or "self" (a copy of the same layer's pretrained self-attention: the same blocks for every seed).
    cross_attention_init: CrossAttentionInit = "random"
    valid_pairs: int = 200  # per language pair, held out
    eval_pairs: int = 100  # of those, translated for the final scores (beam search is slow on CPU)
    eval_beams: int = 4
    eval_every: int = 0  # dev chrF (greedy) every N steps for checkpoint selection; 0: keep the last weights
    save_every: int = 500
    log_every: int = 50
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0 leaves torch's default
    # bf16 autocast of the training forward pass where the CPU has bf16 units (AMX/AVX512-BF16), as in
    # pretraining; translation and dev scoring stay fp32
    precision: Precision = "auto"
    report_to: list[Backend] = field(default_factory=list)  # trackers beside metrics.jsonl (xling.core.tracking)

    def __post_init__(self) -> None:
        if not self.tokenizer and not self.init_from:
            raise InputError("bt train: set `tokenizer` (the pretraining tokenizer folder) or `init_from` "
                             "(a pretraining run's final/ folder, which holds its tokenizer)")
        self.tokenizer = self.tokenizer or self.init_from
        check_report_to(self.report_to)
        if self.steps < 1 or self.batch_size < 1:
            raise InputError("steps and batch_size must be ≥ 1")
        if self.cross_attention_init == "self" and not self.init_from:
            raise InputError("cross_attention_init: 'self' needs a warm start (`init_from`); a random-init "
                             "model has no pretrained self-attention to copy")
        if self.maxi_batch < 0:
            raise InputError(f"maxi_batch must be ≥ 0, got {self.maxi_batch}")
        if self.eval_every < 0:
            raise InputError(f"eval_every must be ≥ 0, got {self.eval_every}")
        if not 0.0 <= self.copy_ratio <= 1.0:
            raise InputError(f"copy_ratio must be within [0, 1], got {self.copy_ratio}")
        if self.eval_pairs > self.valid_pairs:
            raise InputError(f"eval_pairs ({self.eval_pairs}) must be ≤ valid_pairs ({self.valid_pairs})")


@dataclass
class Split:
    train: list[tuple[str, str, str, str]]  # (src text, tgt text, src lang, tgt lang), both directions
    valid: dict[str, list[tuple[str, str]]]  # "a-b" → pairs
    back_translated: set[int] = field(default_factory=set)  # rows of `train` whose source a machine wrote


def split_pairs(groups: dict[str, list[tuple[str, str]]], langs: dict[str, tuple[str, str]], valid_pairs: int,
                seed: int, synthetic: dict[str, list[str]] | None = None) -> Split:
    """Hold out `valid_pairs` per language pair (a seeded choice among its human-made pairs), train on
    the rest in both directions. A pair with a machine-made side (`synthetic`: "src"/"tgt" per pair, as
    `xling.parallel.ParallelData.synthetic`) trains only from that side towards the human one — the
    back-translation direction, whose target is real text — and is never held out, so adding one
    leaves the dev pairs as they were."""
    train, valid, bt = [], {}, set()
    synthetic = synthetic or {}
    g = 0  # counts the groups with human pairs only: a synthetic-only group shifts no other's choice
    for key, pairs in sorted(groups.items()):
        a, b = langs[key]
        sides = synthetic.get(key) or [""] * len(pairs)
        human = [i for i, side in enumerate(sides) if not side]
        if human:
            perm = np.random.default_rng([seed, 7, g]).permutation(len(human))
            g += 1
            n_valid = min(valid_pairs, len(human) // 5)  # never more than a fifth of a small corpus
            valid[key] = [pairs[human[i]] for i in sorted(perm[:n_valid])]
            for i in sorted(perm[n_valid:]):
                s, t = pairs[human[i]]
                train.append((s, t, a, b))
                train.append((t, s, b, a))
        for (s, t), side in zip(pairs, sides, strict=True):
            if side:
                bt.add(len(train))
                train.append((t, s, b, a) if side == "tgt" else (s, t, a, b))
    if not train:
        raise InputError("no training pairs left after holding out the validation pairs")
    return Split(train, {k: v for k, v in valid.items() if v}, bt)


def add_copies(train: list[tuple[str, str, str, str]], ratio: float, seed: int) -> list[tuple[str, str, str, str]]:
    """`train` and round(ratio × len(train)) copy examples (`copy_ratio`): the targets of a seeded choice
    of training examples, each as (t, t, L, L). Only training targets are copied, never held-out text."""
    n = round(ratio * len(train))
    chosen = sorted(np.random.default_rng([seed, 13]).permutation(len(train))[:n])
    return train + [(train[i][1], train[i][1], train[i][3], train[i][3]) for i in chosen]


def batch_indices(step: int, batch_size: int, n: int, seed: int, maxi_batch: int = 0,
                  lengths: Sequence[int] | None = None) -> list[int]:
    """Example indices of batch `step`: consecutive slices of the stream of per-epoch permutations.
    With `maxi_batch` M (Marian's maxi-batch), the stream is cut into pools of M batches, each pool's
    examples are sorted by `lengths` and cut into batches again, in a seeded order: the same examples
    in the same number of steps, with less padding. A function of (step, seed) alone, so resuming at a
    step gives the batches an uninterrupted run would have had."""
    if not maxi_batch:
        return [_stream_index(step * batch_size + j, n, seed) for j in range(batch_size)]
    if lengths is None or len(lengths) != n:
        raise ValueError("maxi_batch needs one length per example")
    return _pool(step // maxi_batch, batch_size, n, seed, maxi_batch, lengths)[step % maxi_batch]


def _stream_index(i: int, n: int, seed: int) -> int:
    epoch, pos = divmod(i, n)
    return int(_epoch_perm(seed, epoch, n)[pos])


_POOLS: dict[tuple[int, int, int, int, int], list[list[int]]] = {}


def _pool(p: int, batch_size: int, n: int, seed: int, maxi_batch: int, lengths: Sequence[int]) -> list[list[int]]:
    key = (p, batch_size, n, seed, maxi_batch)
    if key not in _POOLS:
        start = p * maxi_batch * batch_size
        idx = [_stream_index(i, n, seed) for i in range(start, start + maxi_batch * batch_size)]
        # stable: equal lengths keep their (random) stream order
        idx.sort(key=lambda i: lengths[i])
        batches = [idx[b:b + batch_size] for b in range(0, len(idx), batch_size)]
        order = np.random.default_rng([seed, 17, p]).permutation(maxi_batch)
        _POOLS.clear()
        _POOLS[key] = [batches[k] for k in order]
    return _POOLS[key]


_PERMS: dict[tuple[int, int, int], np.ndarray] = {}


def _epoch_perm(seed: int, epoch: int, n: int) -> np.ndarray:
    key = (seed, epoch, n)
    if key not in _PERMS:
        _PERMS.clear()
        _PERMS[key] = np.random.default_rng([seed, 11, epoch]).permutation(n)
    return _PERMS[key]


def encode_split(split: Split, tok: Any, model: Any, max_len: int, bt_tag: bool = False
                 ) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    """Token ids of every training example: (sources, decoder inputs, labels), encoded once. With
    `bt_tag`, the source of a back-translated row is `[>>L<<, <bt>, pieces…, </s>]`, no longer than the others."""
    src_ids: list[list[int]] = [[] for _ in split.train]
    dec_ids: list[list[int]] = [[] for _ in split.train]
    label_ids: list[list[int]] = [[] for _ in split.train]
    bt_id = tok.convert_tokens_to_ids(BT_TAG) if bt_tag else -1
    if bt_tag and (bt_id is None or bt_id == tok.unk_token_id):
        raise InputError(f"bt_tag: the tokenizer has no {BT_TAG} token (load it with load_tokenizer_with_tags(extra=[BT_TAG]))")
    # grouped by target language (the source's tag and the decoder prefix depend on it) and tagging
    groups: dict[tuple[str, bool], list[int]] = {}
    for i, ex in enumerate(split.train):
        groups.setdefault((ex[3], bt_tag and i in split.back_translated), []).append(i)
    for (tgt_lang, tagged), idx in groups.items():
        prefix = decoder_prefix(model, tok, tgt_lang)
        srcs = encode_sources(tok, [split.train[i][0] for i in idx], tgt_lang, max_len, [bt_id] if tagged else [])
        tgts = encode_targets(tok, [split.train[i][1] for i in idx], max_len - len(prefix) + 1)
        for i, s, y in zip(idx, srcs, tgts, strict=True):
            src_ids[i] = s
            dec_ids[i], label_ids[i] = teacher_forcing(prefix, y)
    return src_ids, dec_ids, label_ids


BT_TRAIN_OUTPUTS = ("checkpoints", "best", "model", "config.yaml", "parallel_stats.json", "valid", "valid_scores",
                    "metrics.jsonl", "scores.json", "report.md", "loss.png", *TRACKING_OUTPUTS)


def bt_train_stage(cfg: BTTrainConfig, out: str | Path) -> Stage:
    """The stage contract of `xling bt train` (`xling.core.stage`)."""
    inputs: dict[str, str | None] = {"tokenizer": str(resolve_data_path(cfg.tokenizer))}
    if cfg.init_from:
        inputs["init_from"] = str(resolve_data_path(cfg.init_from))
    for i, src in enumerate(cfg.parallel.sources):
        for attr in ("src", "tgt"):
            if getattr(src, attr, ""):
                inputs[f"parallel.{i}.{attr}"] = str(resolve_data_path(getattr(src, attr)))
    # records written before `precision` existed trained in fp32
    config = without_new_defaults(to_dict(cfg), {"copy_ratio": 0.0, "precision": "fp32", "bt_tag": False,
                                                  "maxi_batch": 0, "cross_attention_init": "random"})
    config["parallel"] = fingerprint_config(cfg.parallel)
    return Stage(StageSpec("bt-train", Path(out), config, inputs, BT_TRAIN_OUTPUTS,
                           ignore=("threads", "report_to")))


def train_bt(cfg: BTTrainConfig, out: str | Path, force: bool = False, allow_partial: bool = False) -> Path:
    """Train (or resume) into `out`; returns `out/model`. Finished with this config: nothing to do;
    started or finished with another: refused naming the changes, unless `force` (redo). A parallel
    source or `init_from` written by a stage that has not finished is refused unless `allow_partial`."""
    import torch

    require_finished_inputs([*source_files(cfg.parallel), *([cfg.init_from] if cfg.init_from else [])], allow_partial)
    out = Path(out)
    stage = bt_train_stage(cfg, out)
    if stage.begin(force) == "finished":
        log.info("%s: finished with this config (stage.json); nothing to do", out)
        return out / "model"
    save_config(cfg, out / "config.yaml")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cpu = torch.device("cpu")
    log.info("precision %s (precision: %s)", resolve_precision(cfg.precision, cpu), cfg.precision)
    data = load_parallel(cfg.parallel)
    write_json_atomic(out / "parallel_stats.json", data.stats.to_json())
    split = split_pairs(data.groups, data.langs, cfg.valid_pairs, cfg.seed, data.synthetic)
    if cfg.copy_ratio:
        n_pairs = len(split.train)
        split.train = add_copies(split.train, cfg.copy_ratio, cfg.seed)
        log.info("training on %d examples, %d of them copies (copy_ratio %s)", len(split.train),
                 len(split.train) - n_pairs, cfg.copy_ratio)
    for key, pairs in split.valid.items():
        write_tsv_pairs(out / "valid" / f"{key}.tsv", pairs)
    langs = sorted({lg for pair in data.langs.values() for lg in pair})
    if split.back_translated:
        log.info("%d back-translation examples (machine-made source%s)", len(split.back_translated),
                 ", tagged <bt>" if cfg.bt_tag else "")
    tok = load_tokenizer_with_tags(resolve_data_path(cfg.tokenizer), langs, extra=[BT_TAG] if cfg.bt_tag else [])
    max_len = cfg.model.max_len
    torch.manual_seed(cfg.seed)
    model = (warm_start_model(resolve_data_path(cfg.init_from), tok, max_len, cfg.cross_attention_init) if cfg.init_from
             else build_model(cfg.model, tok))
    src_ids, dec_ids, label_ids = encode_split(split, tok, model, max_len, bt_tag=cfg.bt_tag)

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    optimizer_step = OptimizerStep(opt, list(model.parameters()), lambda s: lr_at(
        s, lr=cfg.lr, warmup_steps=cfg.warmup_steps, total_steps=cfg.steps, schedule="linear"), cfg.clip_norm)
    ckpt_root = out / "checkpoints"
    ckpt, state = resume_training(ckpt_root, model)
    step, best = 0, {"dev_chrf": -1.0, "step": 0}
    if ckpt is not None:
        opt.load_state_dict(state["optimizer"])
        restore_rng(state["rng"])
        step = int(state["data"]["step"])
        best = dict(state["data"].get("best", best))
        log.info("resumed from %s at step %d", ckpt.path, step)
    metrics = MetricsLog(out, step, report_to=cfg.report_to, config=to_dict(cfg), kind="bt-train")
    model.train()
    # length-sorted batches: sorted by source + decoder length, the loss over an average batch's targets
    lengths, per_batch = None, None
    if cfg.maxi_batch:
        lengths = [len(s) + len(d) for s, d in zip(src_ids, dec_ids, strict=True)]
        per_batch = cfg.batch_size * sum(sum(t != -100 for t in y) for y in label_ids) / len(label_ids)
    pad = tok.pad_token_id
    bar = tqdm(total=cfg.steps, initial=step, desc="bt train", unit="step")
    t0, tokens, run_loss = time.time(), 0, []
    while step < cfg.steps:
        idx = batch_indices(step, cfg.batch_size, len(split.train), cfg.seed, cfg.maxi_batch, lengths)
        x = _pad([src_ids[i] for i in idx], pad)
        d = _pad([dec_ids[i] for i in idx], pad)
        y = _pad([label_ids[i] for i in idx], -100)

        def micro(_: int, x=x, d=d, y=y, run_loss=run_loss):
            with autocast(cfg.precision, cpu):
                logits = model(input_ids=x, attention_mask=(x != pad).long(), decoder_input_ids=d).logits
            loss, mean = token_loss(logits, y, cfg.label_smoothing, per_batch)
            run_loss.append(mean)
            return loss

        lr, _ = optimizer_step(step, micro)
        step += 1
        tokens += int((x != pad).sum() + (y != -100).sum())
        bar.update(1)
        rec: dict[str, Any] = {}
        if step % cfg.log_every == 0 or step == cfg.steps:
            rec = {"step": step, "loss": sum(run_loss) / len(run_loss), "lr": lr,
                   "tokens_per_s": tokens / max(time.time() - t0, 1e-9)}
            bar.set_postfix(loss=f"{rec['loss']:.3f}")
            run_loss = []
        if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
            dev = dev_chrf(model, tok, split, cfg.eval_pairs)
            model.train()
            rec.update({"step": step, **{f"dev_chrf/{k}": v for k, v in dev.items()}})
            if dev["mean"] > best["dev_chrf"]:
                best = {"dev_chrf": dev["mean"], "step": step}
                _save_model(model, tok, out / "best")
            rec["best_dev_chrf"] = best["dev_chrf"]
            log.info("step %d: dev chrF %s (best %.2f at step %d)", step, dev, best["dev_chrf"], best["step"])
        if rec:
            metrics.write(rec)
        if step % cfg.save_every == 0 and step < cfg.steps:
            # save_model (inside) stores tied (shared) embeddings once, which save_file refuses
            save_training(ckpt_root, step, model, opt.state_dict(), {"best": best}, keep_last=1)
    bar.close()
    metrics.close()
    model_dir = out / "model"
    if cfg.eval_every:
        log.info("keeping the weights of step %d (dev chrF %.2f)", best["step"], best["dev_chrf"])
        with atomic_path(model_dir) as tmp:
            shutil.copytree(out / "best", tmp)
    else:
        _save_model(model, tok, model_dir)
    scores = _score_valid(cfg, out, model_dir, split)
    _write_report(cfg, out, metrics.path, scores, data.stats.to_json(), len(split.train))
    stage.finish({"steps": cfg.steps, "scores": scores, "best": best})
    return model_dir


def _save_model(model: Any, tok: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))


def dev_chrf(model: Any, tok: Any, split: Split, n: int) -> dict[str, float]:
    """Greedy chrF per direction on the first `n` held-out pairs of each language pair, and their mean."""
    out: dict[str, float] = {}
    for key, pairs in split.valid.items():
        pairs = pairs[:n]
        if not pairs:
            continue
        a, b = key.split("-")
        for src_lang, tgt_lang, srcs, refs in ((a, b, [s for s, _ in pairs], [t for _, t in pairs]),
                                                (b, a, [t for _, t in pairs], [s for s, _ in pairs])):
            hyps = translate_texts(model, tok, srcs, tgt_lang, beams=1)
            out[f"{src_lang}-{tgt_lang}"] = corpus_scores(hyps, refs)["chrf"]
    if not out:
        raise InputError("no held-out pairs to select checkpoints on; raise valid_pairs/eval_pairs or set eval_every: 0")
    out["mean"] = sum(out.values()) / len(out)
    return out


def token_loss(logits: Any, labels: Any, label_smoothing: float, divisor: float | None = None) -> tuple[Any, float]:
    """(loss to minimise, mean loss per target token) of one batch; labels -100 are not targets.
    Without `divisor`, the loss is the mean over the batch's own target tokens. With it, the summed loss
    over `divisor` (the target tokens of an average batch): with length-sorted batches (`maxi_batch`) a
    token then weighs the same in a batch of short sentences as in one of long ones, as it does in random
    batches; the batch's own mean would weigh short sentences' tokens up to several times more (measured:
    dev chrF 1–4 lower at the same learning rate), and the short apertium pairs are mostly menu lines."""
    import torch

    flat, y = logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1)
    if divisor is None:
        loss = torch.nn.functional.cross_entropy(flat, y, ignore_index=-100, label_smoothing=label_smoothing)
        return loss, float(loss.detach())
    total = torch.nn.functional.cross_entropy(flat, y, ignore_index=-100, label_smoothing=label_smoothing,
                                              reduction="sum")
    return total / divisor, float(total.detach()) / max(int((y != -100).sum()), 1)


def _pad(rows: list[list[int]], value: int):
    import torch

    width = max(len(r) for r in rows)
    x = torch.full((len(rows), width), value, dtype=torch.long)
    for i, r in enumerate(rows):
        x[i, :len(r)] = torch.tensor(r, dtype=torch.long)
    return x


def _score_valid(cfg: BTTrainConfig, out: Path, model_dir: Path, split: Split) -> dict[str, Any]:
    scores: dict[str, Any] = {}
    for key, pairs in split.valid.items():
        pairs = pairs[:cfg.eval_pairs]
        if not pairs:
            continue
        a, b = key.split("-")
        for src_lang, tgt_lang, test in ((a, b, TestSet([s for s, _ in pairs], [t for _, t in pairs])),
                                         (b, a, TestSet([t for _, t in pairs], [s for s, _ in pairs]))):
            res = score_model(model_dir, test, tgt_lang, out / "valid_scores" / f"{src_lang}-{tgt_lang}",
                              beams=cfg.eval_beams)
            scores[f"{src_lang}-{tgt_lang}"] = {k: res[k] for k in ("bleu", "chrf", "chrf++", "copy_chrf", "n",
                                                                   "chrf_ci95", "copy_chrf_ci95", "chrf_minus_copy")}
    write_json_atomic(out / "scores.json", scores)
    return scores


def _write_report(cfg: BTTrainConfig, out: Path, metrics_path: Path, scores: dict[str, Any],
                  stats: dict[str, Any], n_train: int) -> None:
    recs = [r for r in read_jsonl(metrics_path) if "loss" in r] if metrics_path.is_file() else []
    if recs:
        line_chart(out / "loss.png", {"train loss": ([r["step"] for r in recs], [r["loss"] for r in recs])},
                   "BT model training loss", "step", "label-smoothed cross-entropy")
    rows = [[k, v["n"], v["bleu"], format_ci(v["chrf"], v.get("chrf_ci95"), 2), v["chrf++"],
             format_ci(v["copy_chrf"], v.get("copy_chrf_ci95"), 2), format_delta(v.get("chrf_minus_copy"), 2)]
            for k, v in scores.items()]
    removed = ", ".join(f"{k} {v}" for k, v in sorted(stats["removed"].items())) or "none"
    shape = (f"warm-started from {cfg.init_from} (BERT2BERT)" if cfg.init_from
             else f"{cfg.model.size} {cfg.model.shape()} (layers, d_model, heads, ffn)")
    text = (f"# Back-translation model\n\nModel: {shape}; "
            f"{cfg.steps} steps × {cfg.batch_size} examples; {n_train} training examples (both directions).\n\n"
            f"Parallel data: {stats['read']} pairs read, {stats['kept']} kept (removed: {removed}).\n\n"
            f"## Held-out scores (sacrebleu, beam {cfg.eval_beams})\n\n"
            + markdown_table(["direction", "n", "BLEU", "chrF [95% CI]", "chrF++", "chrF of copying the source",
                                "chrF − copy (paired bootstrap)"], rows) + "\n\n"
            + (f"Final training loss {recs[-1]['loss']:.3f}; {recs[-1]['tokens_per_s']:.0f} tokens/s.\n\n"
               "![loss](loss.png)\n" if recs else ""))
    write_text_atomic(out / "report.md", text)

