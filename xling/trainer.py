"""The training loop: load or resume, loop over steps, log, evaluate, checkpoint.

Data parallelism: `torchrun --nproc_per_node=N xling pretrain ...` starts N copies of the same
command (gloo on CPU, NCCL on GPU). Each rank runs its micro-batches (see
`xling.data.MicroSchedule`), and after the accumulation steps the gradients are averaged with
bucketed `all_reduce` — the same synchronisation DDP performs, done explicitly so objectives can
call any part of the plain `XLMRobertaForMaskedLM` (e.g. the encoder alone, then the output layer
on masked positions only). With `train.distributed: fsdp` every encoder layer and the root are
sharded with FSDP2 (`fully_shard`) instead, for models whose optimizer state does not fit one GPU.

Every micro-batch seeds dropout from its global index, so a run is a pure function of the config:
a 2-process run equals a 1-process run with the same global batch, and a resumed run equals an
uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from tqdm import tqdm

from vocab.export import save_tokenizer
from xling.core.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from xling.core.config import save_config, to_dict
from xling.core.errors import InputError
from xling.core.io import atomic_path, read_jsonl, sha256_file, write_json_atomic, write_text_atomic
from xling.core.report import line_chart, markdown_table
from xling.core.stage import Stage
from xling.core.tracking import Backend, check_report_to
from xling.core.train_loop import (
    MetricsLog,
    OptimizerStep,
    Precision,
    autocast,
    lr_at,
    resolve_precision,
    rng_state,
)
from xling.data import (
    MicroSchedule,
    MonoBatches,
    MonoPlan,
    batch_generator,
    eval_batches,
    load_shards,
    mono_loader,
    prepare_shards,
    tokenizer_file,
)
from xling.model import build_model, count_parameters
from xling.objectives import Objective, SpecialIds
from xling.objectives.base import masked_lm_loss
from xling.objectives.mlm import MLM, MLMConfig
from xling.parallel import PairStream, hf_encoder

if TYPE_CHECKING:
    from xling.pretrain import PretrainConfig

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    max_steps: int = 1000
    global_batch_size: int = 32  # sequences per optimizer step, over all ranks and accumulation steps
    micro_batch_size: int = 8  # sequences per forward/backward on one rank
    lr: float = 5e-4
    warmup_steps: int = 100
    schedule: Literal["linear", "cosine", "constant"] = "linear"  # decay after warm-up
    min_lr_ratio: float = 0.0  # final lr = lr × min_lr_ratio
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    clip_norm: float = 1.0  # 0 disables clipping
    precision: Precision = "auto"  # auto: bf16 autocast where the hardware has bf16 units
    device: Literal["auto", "cpu", "cuda"] = "auto"
    distributed: Literal["ddp", "fsdp"] = "ddp"  # only used under torchrun with more than one process
    threads: int | None = None  # torch intra-op threads per process (CPU)
    log_every: int = 10
    eval_every: int = 200  # 0: only at the end
    eval_sequences: int = 32  # held-out sequences per language
    save_every: int = 500
    keep_last: int = 2
    max_steps_this_run: int | None = None  # stop (after a checkpoint) once this many steps ran; re-run resumes
    # experiment trackers beside metrics.jsonl (xling.core.tracking): tensorboard, wandb (offline), mlflow (file store)
    report_to: list[Backend] = field(default_factory=lambda: ["tensorboard"])
    progress: bool = True

    def __post_init__(self) -> None:
        for key in ("max_steps", "global_batch_size", "micro_batch_size", "log_every", "save_every"):
            if getattr(self, key) <= 0:
                raise InputError(f"{key} must be positive, got {getattr(self, key)}")
        if self.warmup_steps < 0 or self.eval_every < 0 or self.keep_last < 1:
            raise InputError("warmup_steps and eval_every must be ≥ 0 and keep_last ≥ 1")
        if self.max_steps_this_run is not None and self.max_steps_this_run <= 0:
            raise InputError(f"max_steps_this_run must be positive, got {self.max_steps_this_run}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"lr must be a positive number, got {self.lr}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise InputError(f"min_lr_ratio must be within [0, 1], got {self.min_lr_ratio}")
        if self.weight_decay < 0 or self.clip_norm < 0 or not self.eps > 0:
            raise InputError(f"weight_decay and clip_norm must be ≥ 0 and eps > 0, got {self.weight_decay}, "
                             f"{self.clip_norm}, {self.eps}")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise InputError(f"betas must be within [0, 1), got {list(self.betas)}")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"threads must be ≥ 1, got {self.threads}")
        if self.eval_sequences < 0:
            raise InputError(f"eval_sequences must be ≥ 0, got {self.eval_sequences}")
        check_report_to(self.report_to)

    def lr_at(self, step: int) -> float:
        return lr_at(step, lr=self.lr, warmup_steps=self.warmup_steps, total_steps=self.max_steps,
                     schedule=self.schedule, min_lr_ratio=self.min_lr_ratio)


# ------------------------------------------------------------------------------------- distributed


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return t.tolist()


def init_distributed(cfg: TrainConfig) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise InputError("train.device: cuda requested but no GPU is visible")
    device = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank, world, local, device)


def allreduce_grads(params: list[torch.nn.Parameter], world: int, bucket_numel: int = 1 << 25) -> None:
    """Average gradients over ranks in flat buckets (what DDP does, after accumulation)."""
    grads = []
    for p in params:
        if p.grad is None:  # an objective that skips a module still takes part in the reduction
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    bucket: list[torch.Tensor] = []
    size = 0
    for g in [*grads, None]:
        if g is not None and (not bucket or (g.dtype == bucket[0].dtype and size + g.numel() <= bucket_numel)):
            bucket.append(g)
            size += g.numel()
            continue
        if bucket:
            flat = torch.cat([b.reshape(-1) for b in bucket])
            torch.distributed.all_reduce(flat)
            flat /= world
            offset = 0
            for b in bucket:
                b.copy_(flat[offset:offset + b.numel()].view_as(b))
                offset += b.numel()
        bucket, size = ([g], g.numel()) if g is not None else ([], 0)


def seed_micro_batch(seed: int, m: int, device: torch.device) -> None:
    """Dropout RNG of global micro-batch m, independent of rank, accumulation split and resume."""
    torch.manual_seed((seed * 1_000_003 + m * 104_729 + 7) % (2**63 - 1))


# --------------------------------------------------------------------------------------- training


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # biases and LayerNorm gains are not decayed (BERT/RoBERTa practice)
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def accumulation_steps(tc: TrainConfig, processes: int) -> int:
    """Micro-batches per optimizer step so that processes × micro-batch × steps = the global batch."""
    per_step = tc.micro_batch_size * processes
    if tc.global_batch_size % per_step:
        raise InputError(f"train.global_batch_size={tc.global_batch_size} is not a multiple of micro_batch_size × "
                         f"processes = {tc.micro_batch_size} × {processes}")
    return tc.global_batch_size // per_step


def train(cfg: PretrainConfig, out: Path, stage: Stage, force: bool = False) -> Path:
    """`stage`: the arm's completion record (`xling.pretrain.pretrain_stage`), passed in by its owner."""
    from transformers import AutoTokenizer

    tc = cfg.train
    out = Path(out)
    dist = init_distributed(tc)
    tok_dir = Path(cfg.tokenizer)
    tok_sha = sha256_file(tokenizer_file(tok_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    special = SpecialIds.from_tokenizer(tokenizer)
    specs = cfg.objective_specs()
    max_len = cfg.data.max_len

    accum = accumulation_steps(tc, dist.world)

    # The stage contract decides before anything is written: finished with this config → nothing
    # to do; started or finished with another config → refused, naming the changed keys.
    if stage.begin(force, write=False) == "finished":
        if dist.main:
            print(f"{out}: finished with this config (stage.json); nothing to do")
        return out / "final"
    if dist.main:
        stage.begin(force)
        save_config(cfg, out / "config.yaml")
    dist.barrier()
    cache = Path(cfg.data.cache_dir).expanduser() if cfg.data.cache_dir else out / "token-shards"
    if dist.main:
        folders = prepare_shards(cfg.data, tok_dir, cache, progress=tc.progress)
    dist.barrier()
    if not dist.main:
        folders = prepare_shards(cfg.data, tok_dir, cache, progress=False)
    shards = load_shards(folders)
    langs = sorted(shards)
    pairs = None
    pair_langs: set[str] = set()
    if any(s.cls.data == "parallel" for s in specs):
        pairs = PairStream.from_config(cfg.parallel, hf_encoder(tokenizer), rank=dist.rank, world_size=dist.world)
        pair_langs = {lang for pair in pairs.langs for lang in pair}
    # language ids (token types for objectives with language embeddings): mono languages, then parallel-only ones
    lang_ids = {lang: i for i, lang in enumerate(langs + sorted(pair_langs - set(langs)))}

    objectives = [s.cls(s.options, special, max_len, lang_ids) for s in specs]
    n_micro = tc.max_steps * accum * dist.world
    schedule = MicroSchedule([s.weight for s in specs], [s.cls.data == "mono" for s in specs], n_micro, cfg.seed)
    block = max_len - 2
    plan = MonoPlan({lang: len(shards[lang].train) for lang in langs}, block, schedule.n_mono * tc.micro_batch_size,
                    cfg.seed, cfg.data.alpha_schedule_obj(), cfg.data.max_repeats)
    dataset = MonoBatches(plan, shards, schedule, objectives, tc.micro_batch_size, cfg.seed)
    mlm_for_eval = next((o for o in objectives if isinstance(o, MLM)), None) or MLM(MLMConfig(), special, max_len,
                                                                                 lang_ids)
    evals = eval_batches(shards, mlm_for_eval, max_len, tc.eval_sequences, tc.micro_batch_size, cfg.seed)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, special, max_len)
    shape = list(cfg.model.shape()) if not cfg.model.init_from else [model.config.num_hidden_layers,
                                                                      model.config.hidden_size]
    precision = resolve_precision(tc.precision, dist.device)
    expect = {"vocab_size": special.vocab_size, "tokenizer_sha256": tok_sha, "model_shape": shape}
    ckpt_root = out / "checkpoints"
    ckpt = latest_checkpoint(ckpt_root)
    state: dict[str, Any] = {}
    if ckpt is not None:
        state = load_checkpoint(ckpt, model, expect)
        if ckpt.meta.get("global_batch_size") not in (None, tc.global_batch_size):
            raise InputError(f"{ckpt.path}: trained with global_batch_size={ckpt.meta['global_batch_size']}, now "
                             f"{tc.global_batch_size}; resume with the same global batch (any process count)")
    start = ckpt.step if ckpt else 0
    model.to(dist.device)
    fsdp = dist.world > 1 and tc.distributed == "fsdp"
    if fsdp:
        loss_model = _shard_fsdp(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(_param_groups(model, tc.weight_decay), lr=tc.lr, betas=tc.betas, eps=tc.eps,
                                  fused=dist.device.type == "cuda" or None)
    if state:
        _load_optimizer(optimizer, model, state["optimizer"], fsdp)
        torch.set_rng_state(state["rng"]["torch"])
        if pairs is not None:
            pairs.load_state_dict(_rank_state(state.get("parallel"), dist, ckpt.path))
        _restore_objectives(objectives, state.get("objectives"), dist, ckpt.path)

    if dist.main:
        log.info("model: %s, %.1fM parameters, vocab %d, %s, %d process(es) × micro-batch %d × accumulation %d = "
                 "global batch %d × %d tokens", cfg.model.size, count_parameters(model) / 1e6, special.vocab_size,
                 precision, dist.world, tc.micro_batch_size, accum, tc.global_batch_size, max_len)
        data_plan = {"languages": langs, "block_tokens": block, "sequences_planned": plan.n_examples,
                     "plan_at_start": plan.plans[0].to_json(), "plan_at_end": plan.plans[-1].to_json()}
        if pairs is not None:  # what cleaning and `parallel.filter` kept and dropped, per source and reason
            data_plan["parallel"] = pairs.stats.to_json()
        write_json_atomic(out / "data_plan.json", data_plan)
    logger = MetricsLog(out, start, enabled=dist.main, report_to=tc.report_to, config=to_dict(cfg), kind="pretrain")
    stop = tc.max_steps if tc.max_steps_this_run is None else min(tc.max_steps, start + tc.max_steps_this_run)
    my_micro = [MicroSchedule.index(s, a, dist.rank, accum, dist.world) for s in range(start, stop) for a in range(accum)]
    mono_iter = mono_loader(dataset, [m for m in my_micro if schedule.is_mono[m]], cfg.data.num_workers)

    bar = tqdm(total=tc.max_steps, initial=start, desc="pretrain", unit="step", disable=not (dist.main and tc.progress),
               dynamic_ncols=True)
    tokens_seen = int(state.get("data", {}).get("tokens_seen", 0)) if state else 0
    window: Counter = Counter()
    step = start
    grad_hook = (lambda: allreduce_grads(params, dist.world)) if dist.world > 1 and not fsdp else None
    optimizer_step = OptimizerStep(optimizer, params, tc.lr_at, tc.clip_norm, accum, grad_hook)
    model.train()
    for step in range(start, stop):
        t_step = time.perf_counter()  # tokens/s counts training time only, not evaluation or saving
        step_stats: Counter = Counter()

        def micro(a: int, step: int = step, step_stats: Counter = step_stats) -> torch.Tensor:
            m = MicroSchedule.index(step, a, dist.rank, accum, dist.world)
            objective = objectives[int(schedule.objective[m])]
            if objective.data == "mono":
                batch, _ = next(mono_iter)
            else:
                batch = objective.collate(pairs.take(tc.micro_batch_size), batch_generator(cfg.seed, m))
            n_tok = objective.n_tokens(batch)
            batch = _to(batch, dist.device)
            seed_micro_batch(cfg.seed, m, dist.device)
            with autocast(tc.precision, dist.device):
                if fsdp:
                    loss, metrics = loss_model(objective, batch)
                else:
                    loss, metrics = objective.loss(model, batch)
            step_stats["loss"] += float(loss.detach())
            step_stats["tokens"] += n_tok
            step_stats[f"loss/{objective.name}"] += float(loss.detach())
            step_stats[f"n/{objective.name}"] += 1
            for k, v in metrics.items():
                if isinstance(v, (int, float)) and k.startswith("n_"):
                    step_stats[k] += v
                elif isinstance(v, (int, float)):
                    step_stats[f"{objective.name}/{k}"] += v
            return loss

        lr, grad_norm_ = optimizer_step(step, micro)

        keys = sorted(step_stats)
        totals = dict(zip(keys, dist.sum([float(step_stats[k]) for k in keys]), strict=True))
        tokens_seen += int(totals["tokens"])
        window.update(totals)
        window["steps"] += 1
        window["seconds"] += time.perf_counter() - t_step
        done = step + 1
        bar.update(1)
        if done % tc.log_every == 0 or done == stop:
            n_micro_all = accum * dist.world * window["steps"]
            row: dict[str, Any] = {"step": done, "loss": window["loss"] / n_micro_all, "lr": lr,
                                   "grad_norm": float(grad_norm_), "tokens_seen": tokens_seen,
                                   "tokens_per_s": window["tokens"] / max(window["seconds"], 1e-9)}
            for name in sorted({k.split("/", 1)[1] for k in window if k.startswith("n/")}):
                row[f"loss_{name}"] = window[f"loss/{name}"] / window[f"n/{name}"]
                for k in window:
                    if k.startswith(f"{name}/") and not k.endswith("_loss"):
                        sub = k.split("/", 1)[1]
                        key = sub if sub.startswith(f"{name}_") else f"{name}_{sub}"
                        row[key] = window[k] / window[f"n/{name}"]
            sampled = plan.sampled_tokens(int(schedule.mono_slot[MicroSchedule.index(step, accum - 1, dist.world - 1,
                                                                                       accum, dist.world)] + 1)
                                          * tc.micro_batch_size)
            row["sampled_tokens"] = sampled
            row["repeats"] = {lang: round(n / plan.tokens[lang], 4) for lang, n in sampled.items()}
            logger.write(row)
            for objective in objectives:
                objective.check_log_row(row, done)
            bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}", lr=f"{lr:.2e}")
            window = Counter()
        if (tc.eval_every and done % tc.eval_every == 0) or done == tc.max_steps:
            ev = evaluate(model, evals, tc, dist, loss_model if fsdp else None)
            if ev:
                logger.write({"step": done, "eval_loss": ev})
                if dist.main:
                    bar.write(f"step {done}: held-out MLM loss " + ", ".join(f"{k} {v:.3f}" for k, v in ev.items()))
            model.train()
        if done % tc.save_every == 0 or done == stop:
            _save(out, ckpt_root, done, model, optimizer, pairs, objectives, dist, tc, expect, tokens_seen, fsdp)
    bar.close()
    logger.close()
    finished = step + 1 >= tc.max_steps or start >= tc.max_steps
    if not finished:
        if dist.main:
            print(f"stopped at step {stop}/{tc.max_steps} (train.max_steps_this_run); re-run the same command to "
                  f"resume from {ckpt_root}")
        return out
    final = out / "final"
    if start < tc.max_steps or not (final / "config.json").is_file():
        full_state = _fsdp_model_state(model) if fsdp else None  # a collective: every rank takes part
        if dist.main:
            write_final(model, tokenizer, tok_dir, final, full_state)
            write_report(out)
    if dist.main:
        stage.finish({"steps": tc.max_steps, "tokens_seen": tokens_seen, "final": "final"})
    dist.barrier()
    if dist.main:
        print(f"wrote {final} (AutoModelForMaskedLM/AutoTokenizer), {out / 'metrics.jsonl'}, {out / 'report.md'}")
    return final


def _rank_state(states: Any, dist: Dist, path: Path, what: str = "the parallel stream") -> Any:
    if not isinstance(states, list) or len(states) != dist.world:
        n = len(states) if isinstance(states, list) else 0
        raise InputError(f"{path}: {what} was saved by {n} process(es), now {dist.world}; resume "
                         "runs with parallel data on the same number of processes")
    return states[dist.rank]


def _objective_states(objectives: list[Objective], dist: Dist) -> list[dict[str, Any]] | None:
    """Every rank's {objective name: state} (rank 0 gets the list; the others None). Each rank keeps its
    own: ranks run different micro-batches, so XLCo's queue and momentum encoder differ between them."""
    mine = {o.name: st for o in objectives if (st := o.state_dict())}
    if dist.world == 1:
        return [mine]
    # CPU copies: a CUDA tensor sent to rank 0 would be unpickled onto the sender's device
    mine = _map_tensors(mine, lambda t: t.detach().cpu())
    gathered: list[Any] | None = [None] * dist.world if dist.main else None
    torch.distributed.gather_object(mine, gathered, dst=0)  # our own ranks, not a file
    return gathered


def _restore_objectives(objectives: list[Objective], saved: Any, dist: Dist, path: Path) -> None:
    """Hand each objective the state it saved (`Objective.state_dict`) at checkpoint `path`."""
    if saved is None:
        for o in objectives:
            if o.state_dict():  # it keeps state in this configuration, e.g. XLCo with queue_size > 0
                log.warning("%s: no state of objective %s in the checkpoint (written before objectives saved "
                            "theirs); it starts afresh (xlco: empty queue, momentum encoder copied from the "
                            "model), so this run will not match an uninterrupted one exactly", path, o.name)
        return
    if isinstance(saved, list) and not any(saved):
        return  # no objective kept state (MLM alone): such a run may resume on any number of processes
    mine = _rank_state(saved, dist, path, "the objectives' state")
    for o in objectives:
        o.load_state_dict(_map_tensors(mine.get(o.name, {}), lambda t: t.to(dist.device)))


def _map_tensors(tree: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(tree, torch.Tensor):
        return fn(tree)
    if isinstance(tree, dict):
        return {k: _map_tensors(v, fn) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_map_tensors(v, fn) for v in tree)
    return tree


@torch.no_grad()
def evaluate(model: torch.nn.Module, evals: dict[str, list[dict[str, torch.Tensor]]], tc: TrainConfig, dist: Dist,
             loss_model: Any = None) -> dict[str, float]:
    """Held-out MLM loss per language (mean over masked tokens), same masks every time."""
    model.eval()
    out = {}
    for lang, batches in evals.items():
        total = n = 0.0
        for batch in batches:
            b = _to(batch, dist.device)
            with autocast(tc.precision, dist.device):
                if loss_model is not None:
                    loss, _, n_masked = loss_model(None, b)
                else:
                    loss, _, n_masked = masked_lm_loss(model, b["input_ids"], b["attention_mask"], b["labels"])
            total += float(loss) * int(n_masked)
            n += int(n_masked)
        if n:
            out[lang] = total / n
    if out:
        out["mean"] = sum(out.values()) / len(out)
    return out


def _save(out: Path, root: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, pairs: Any,
          objectives: list[Objective], dist: Dist, tc: TrainConfig, expect: dict[str, Any], tokens_seen: int,
          fsdp: bool) -> None:
    parallel = None
    if pairs is not None:
        parallel = [pairs.state_dict()]
        if dist.world > 1:
            gathered: list[Any] = [None] * dist.world
            torch.distributed.all_gather_object(gathered, pairs.state_dict())  # our own ranks, not a file
            parallel = gathered
    objective_states = _objective_states(objectives, dist)
    if fsdp:
        model_state, optim_state = _fsdp_full_state(model, optimizer)
    else:
        model_state, optim_state = None, optimizer.state_dict()
    if dist.main:
        state = {"optimizer": optim_state, "rng": rng_state(), "data": {"step": step, "tokens_seen": tokens_seen},
                 "parallel": parallel, "objectives": objective_states}
        meta = {**expect, "tokens_seen": tokens_seen, "world_size": dist.world,
                "global_batch_size": tc.global_batch_size, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        target = model if model_state is None else _full_cpu_model(model, model_state)
        save_checkpoint(root, step, target, state, meta, keep_last=tc.keep_last)
    dist.barrier()


def _load_optimizer(optimizer: torch.optim.Optimizer, model: torch.nn.Module, optim_state: dict[str, Any],
                    fsdp: bool) -> None:
    if fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(model, optimizer, optim_state,
                                 options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=False))
    else:
        optimizer.load_state_dict(optim_state)


# ----------------------------------------------------------------------------------------------- FSDP


def _shard_fsdp(model: torch.nn.Module) -> Any:
    """FSDP2: shard each encoder layer and the root; return a callable that runs an objective's
    loss as a registered forward method of the root, so FSDP gathers/reshards around it."""
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    for layer in model.roberta.encoder.layer:
        fully_shard(layer)
    fully_shard(model)

    def xling_loss(self: torch.nn.Module, objective: Any, batch: dict[str, torch.Tensor]) -> Any:
        if objective is None:  # evaluation: plain MLM loss
            return masked_lm_loss(self, batch["input_ids"], batch["attention_mask"], batch["labels"])
        return objective.loss(self, batch)

    model.xling_loss = types.MethodType(xling_loss, model)
    register_fsdp_forward_method(model, "xling_loss")
    return model.xling_loss


def _fsdp_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def _fsdp_full_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_state_dict(model, optimizer, options=opts)


def _full_cpu_model(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A plain CPU copy of a sharded model from its gathered full state dict (rank 0, for saving)."""
    from transformers import XLMRobertaForMaskedLM

    copy = XLMRobertaForMaskedLM(model.config)
    copy.load_state_dict(state, strict=False)
    copy.tie_weights()
    return copy


def write_final(model: torch.nn.Module, tokenizer: Any, tok_dir: Path, final: Path,
                full_state: dict[str, torch.Tensor] | None = None) -> Path:
    """`final/`: model + tokenizer that load offline with AutoModelForMaskedLM / AutoTokenizer.
    `full_state`: the gathered weights of an FSDP-sharded model."""
    state = full_state
    with atomic_path(final) as tmp:
        target = model if state is None else _full_cpu_model(model, state)
        target.save_pretrained(str(tmp), safe_serialization=True)
        save_tokenizer(tokenizer, tmp)
        spm = Path(tok_dir) / "sentencepiece.bpe.model"
        if spm.is_file():
            shutil.copy2(spm, tmp / spm.name)
    return final


def write_report(out: Path) -> Path:
    """report.md + loss.png from metrics.jsonl."""
    rows = list(read_jsonl(out / "metrics.jsonl")) if (out / "metrics.jsonl").exists() else []
    train = [r for r in rows if "loss" in r]
    evals = [r for r in rows if "eval_loss" in r]
    curves: dict[str, tuple[list, list]] = {}
    if train:
        curves["train loss"] = ([r["step"] for r in train], [r["loss"] for r in train])
    langs = sorted({k for r in evals for k in r["eval_loss"] if k != "mean"})
    for lang in langs:
        pts = [(r["step"], r["eval_loss"][lang]) for r in evals if lang in r["eval_loss"]]
        curves[f"held-out {lang}"] = ([p[0] for p in pts], [p[1] for p in pts])
    lines = ["# Pretraining report", ""]
    if curves:
        line_chart(out / "loss.png", curves, "MLM loss", "step", "loss")
        lines += ["![loss](loss.png)", ""]
    if train:
        last = train[-1]
        lines += [f"Steps: {last['step']}, tokens seen: {last['tokens_seen']:,}, last train loss "
                  f"{last['loss']:.4f}, {last['tokens_per_s']:.0f} tokens/s (last logging window).", ""]
        if "repeats" in last:
            lines += ["## Languages sampled", "",
                      markdown_table(["lang", "tokens sampled", "passes over the data"],
                                     [[k, f"{last['sampled_tokens'][k]:,}", f"{v:.2f}"]
                                      for k, v in last["repeats"].items()]), ""]
    if evals:
        last = evals[-1]["eval_loss"]
        lines += ["## Held-out MLM loss (last evaluation)", "",
                  markdown_table(["lang", "loss"], [[k, f"{v:.4f}"] for k, v in last.items()]), ""]
    return write_text_atomic(out / "report.md", "\n".join(lines) + "\n")
