"""`xling pretrain`: the typed config tree and the `pretrain(config, out)` entry point.

A recipe is a YAML file of this tree; `--set key=value` changes single fields. The whole config
is checked (unknown keys, wrong types, objective options, parallel section) when it is loaded,
before any data is read, and saved as `OUT/config.yaml`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xling.core.config import ConfigError, from_dict, load_config, to_dict
from xling.core.errors import InputError
from xling.core.io import read_json
from xling.core.locking import output_lock
from xling.core.paths import resolve_data_path
from xling.core.stage import Stage, StageSpec, require_finished_inputs
from xling.core.tracking import TRACKING_OUTPUTS
from xling.core.train_loop import resolve_precision
from xling.data import DataConfig
from xling.model import ModelConfig, count_parameters
from xling.objectives import OBJECTIVES, SpecialIds
from xling.parallel import ParallelConfig, fingerprint_config, source_files
from xling.trainer import TrainConfig, accumulation_steps, train

log = logging.getLogger(__name__)


@dataclass
class ObjectiveSpec:
    """A resolved `objectives:` entry: the class, its weight and its typed options."""

    name: str
    cls: type
    weight: float
    options: Any


@dataclass
class PretrainConfig:
    """`tokenizer`: a Hugging Face tokenizer folder (e.g. `xling vocab train` output).

    `objectives`: list of `{name: mlm, weight: 1.0, <that objective's options>}`; each objective's
    options are checked against its `Config` dataclass. `parallel`: translation pairs for the
    objectives whose `data` is "parallel" (tlm, camlm, btmlm).
    """

    tokenizer: str
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    objectives: list[dict[str, Any]] = field(default_factory=lambda: [{"name": "mlm", "weight": 1.0}])
    parallel: ParallelConfig | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        specs = self.objective_specs()
        if any(s.cls.data == "parallel" for s in specs) and self.parallel is None:
            names = [s.name for s in specs if s.cls.data == "parallel"]
            raise ConfigError(f"objectives {', '.join(names)} read translation pairs: add a `parallel:` section "
                              "with sources")

    def objective_specs(self) -> list[ObjectiveSpec]:
        if not self.objectives:
            raise ConfigError("objectives: empty; use e.g. [{name: mlm}]")
        out = []
        for i, item in enumerate(self.objectives):
            where = f"objectives[{i}]"
            if not isinstance(item, dict) or "name" not in item:
                raise ConfigError(f"{where}: expected a mapping with a `name`, got {item!r}")
            options = dict(item)
            name = options.pop("name")
            weight = options.pop("weight", 1.0)
            try:
                cls = OBJECTIVES.get(str(name))
            except KeyError as e:
                raise ConfigError(f"{where}.name: {e}") from None
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
                raise ConfigError(f"{where}.weight: expected a positive number, got {weight!r}")
            out.append(ObjectiveSpec(str(name), cls, float(weight), from_dict(cls.Config, options, where)))
        names = [s.name for s in out]
        if len(set(names)) != len(names):
            raise ConfigError(f"objectives: {names} lists an objective twice")
        return out


def load_pretrain_config(path: str | Path | None, overrides: list[str] | None = None) -> PretrainConfig:
    return load_config(PretrainConfig, path, overrides)


def pretrain(config: PretrainConfig, out: str | Path, force: bool = False, allow_partial: bool = False) -> Path:
    """Train (or resume) into `out`; returns `out/final` (or `out` when stopped early by
    `train.max_steps_this_run`). Safe to call again with the same arguments: it resumes, or does
    nothing once finished; other settings are refused (`force`: delete the outputs and redo)."""

    parallel_files = source_files(config.parallel) if config.parallel is not None else []
    require_finished_inputs([*config.data.corpus, *parallel_files], allow_partial)
    with output_lock(out):  # rank 0 only under torchrun: all ranks of one job share the folder
        return train(config, Path(out), pretrain_stage(config, out), force=force)


# Settings that change how a run goes, not what it computes: a resume may change them.
PRETRAIN_IGNORE = ("train.max_steps_this_run", "train.progress", "train.report_to", "train.threads",
                   "train.device", "data.num_workers", "data.cache_dir")
PRETRAIN_OUTPUTS = ("checkpoints", "final", "metrics.jsonl", "report.md", "loss.png", *TRACKING_OUTPUTS,
                    "data_plan.json", "config.yaml")


def pretrain_stage(cfg: PretrainConfig, out: str | Path) -> Stage:
    """The pretraining arm's stage contract (`xling.core.stage`): config, inputs, outputs."""
    inputs: dict[str, str | None] = {"tokenizer": str(resolve_data_path(cfg.tokenizer)),
                                     "init_from": cfg.model.init_from or None}
    for i, spec in enumerate(cfg.data.corpus):
        inputs[f"corpus.{i}"] = str(resolve_data_path(spec.split("=", 1)[1] if "=" in spec.split("/")[0] else spec))
    for lang, paths in sorted(cfg.data.files.items()):
        for i, path in enumerate([paths] if isinstance(paths, str) else paths):
            inputs[f"files.{lang}.{i}"] = str(resolve_data_path(path))
    if cfg.parallel is not None:
        # The include files and the sources they list are inputs too: editing one must make the arm stale.
        for i, inc in enumerate(cfg.parallel.include):
            inputs[f"parallel.include.{i}"] = str(resolve_data_path(inc))
        for i, src in enumerate(cfg.parallel.all_sources()):
            for attr in ("src", "tgt"):
                if getattr(src, attr, None):
                    inputs[f"parallel.{i}.{attr}"] = str(resolve_data_path(getattr(src, attr)))
        if cfg.parallel.filter.scorer_model:
            inputs["parallel.filter.score"] = str(resolve_data_path(cfg.parallel.filter.scorer_model))
    config = to_dict(cfg)
    if cfg.parallel is not None:
        config["parallel"] = fingerprint_config(cfg.parallel)
    return Stage(StageSpec("pretrain", Path(out), config, inputs, PRETRAIN_OUTPUTS, PRETRAIN_IGNORE))


# ------------------------------------------------------------------------------------------ dry run

XLMR_VOCAB = 250_002  # xlm-roberta-base/large: 250,000 SentencePiece ids shifted by one (fairseq's <pad>) + <mask>


def _plan_vocab(cfg: PretrainConfig, vocab_size: int | None, notes: list[str]) -> tuple[int, int, str]:
    """(vocab size, pad id, where they came from): the tokenizer folder, else init_from's config.json,
    else `vocab_size`, else XLM-R's."""
    tok = Path(cfg.tokenizer)
    init = Path(cfg.model.init_from) if cfg.model.init_from else None
    if tok.is_dir():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(tok))
        return len(tokenizer), int(tokenizer.pad_token_id), f"tokenizer {tok}"
    notes.append(f"tokenizer {tok} does not exist on this machine")
    if init is not None and (init / "config.json").is_file():

        hf = read_json(init / "config.json")
        return int(hf["vocab_size"]), int(hf.get("pad_token_id", 1)), f"model.init_from {init}/config.json"
    if vocab_size is not None:
        return vocab_size, 1, "--vocab-size"
    notes.append(f"vocabulary size assumed to be XLM-R's {XLMR_VOCAB:,} (pass --vocab-size for another tokenizer)")
    return XLMR_VOCAB, 1, "assumed: XLM-R's"


def plan_pretrain(cfg: PretrainConfig, nproc: int = 1, vocab_size: int | None = None) -> dict[str, Any]:
    """What `pretrain(cfg)` would do on `nproc` processes, without reading data or allocating the
    model: parameter count (built on torch's `meta` device), batch split, tokens, and the memory
    per process for weights, gradients and AdamW state (+ an activation estimate).

    Raises ValueError for a batch split the trainer would refuse."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    if nproc < 1:
        raise InputError(f"nproc must be ≥ 1, got {nproc}")
    notes: list[str] = []
    specs = cfg.objective_specs()
    tc, max_len = cfg.train, cfg.data.max_len
    accum = accumulation_steps(tc, nproc)

    vocab, pad, vocab_source = _plan_vocab(cfg, vocab_size, notes)
    init = Path(cfg.model.init_from) if cfg.model.init_from else None
    if init is not None and (init / "config.json").is_file():
        hf_config = XLMRobertaConfig.from_pretrained(str(init))
        shape_source = f"model.init_from {init}/config.json"
        if hf_config.vocab_size != vocab:
            raise InputError(f"model.init_from {init}: vocabulary mismatch — the model has {hf_config.vocab_size} "
                             f"embeddings but the tokenizer has {vocab} pieces")
    else:
        if init is not None:
            notes.append(f"model.init_from {init} does not exist on this machine: shape from the `{cfg.model.size}` "
                         "preset (the checkpoint must have the same shape)")
        special = SpecialIds(bos=0, eos=2, pad=pad, unk=3, mask=vocab - 1, vocab_size=vocab,
                             all_special=(0, 1, 2, 3, vocab - 1))
        hf_config = cfg.model.hf_config(special, max_len)
        shape_source = f"size={cfg.model.size} preset" + (" + overrides" if any(
            getattr(cfg.model, k) for k in ("num_layers", "hidden_size", "num_heads", "intermediate_size")) else "")
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        model = XLMRobertaForMaskedLM(hf_config)
    params = count_parameters(model)

    layers, hidden, heads = hf_config.num_hidden_layers, hf_config.hidden_size, hf_config.num_attention_heads
    fsdp = tc.distributed == "fsdp" and nproc > 1
    state_bytes = 16 * params / (nproc if fsdp else 1)  # fp32 weights 4 + grads 4 + AdamW m, v 8
    device, precision = _plan_device(tc)
    act_bytes = 4 if precision == "fp32" else 2
    tokens_micro = tc.micro_batch_size * max_len
    # Korthikanti et al. 2022: 34·s·b·h bytes per layer at 2-byte activations, plus 5·a·s²·b for the
    # attention scores that fused (SDPA/flash) kernels do not keep. PyTorch's CPU SDPA has no fused
    # kernel with dropout, so on CPU training keeps the scores too.
    per_layer = tokens_micro * hidden * 34 * act_bytes / 2
    scores_kept = cfg.model.attn_implementation == "eager" or (device == "cpu" and cfg.model.attention_dropout > 0)
    if scores_kept:
        per_layer += 5 * heads * max_len * tokens_micro * act_bytes / 2
    select = max((getattr(s.options, "select_prob", 0.15) for s in specs), default=0.15)
    # the LM head runs at selected positions only: bf16 logits + their fp32 log-softmax
    head_bytes = tokens_micro * select * vocab * (act_bytes + 4)
    activations = layers * per_layer + head_bytes
    if device == "cpu":
        # Measured (docs/benchmarks.md): a CPU step's resident memory grew 1.75× the saved activations
        # the formula counts: glibc keeps freed activation blocks, and backward holds transient
        # gradient buffers beside them.
        activations *= CPU_ACTIVATION_SLACK
    # On CPU the figure is compared with the process's resident memory, which also holds the Python
    # runtime with torch and transformers loaded (measured here, in this process: ~0.37 GiB) and
    # the allocator's slack; a GPU's figure excludes its CUDA context instead.
    runtime = _runtime_rss_bytes() if device == "cpu" else 0
    gib = 1024 ** 3
    plan: dict[str, Any] = {
        "model": {"layers": layers, "hidden": hidden, "heads": heads, "ffn": hf_config.intermediate_size,
                  "vocab_size": vocab, "vocab_source": vocab_source, "max_position_embeddings":
                  hf_config.max_position_embeddings, "shape_source": shape_source, "parameters": params,
                  "init_from": cfg.model.init_from},
        "objectives": [{"name": s.name, "weight": s.weight, "data": s.cls.data} for s in specs],
        "batch": {"processes": nproc, "micro_batch_size": tc.micro_batch_size, "accumulation": accum,
                  "global_batch_size": tc.global_batch_size, "max_len": max_len,
                  "tokens_per_step": tc.global_batch_size * max_len,
                  "tokens_total": tc.global_batch_size * max_len * tc.max_steps},
        "schedule": {"max_steps": tc.max_steps, "lr": tc.lr, "warmup_steps": tc.warmup_steps,
                     "schedule": tc.schedule, "precision": tc.precision, "distributed": tc.distributed},
        "memory_gib_per_process": {
            "weights_grads_adam": round(state_bytes / gib, 2),
            "activations_estimate": round(activations / gib, 2),
            "runtime": round(runtime / gib, 2),
            "total_estimate": round((state_bytes + activations + runtime) / gib, 2),
            "device": device, "precision": precision,
            "basis": ("16 B/parameter (fp32 weights, grads, AdamW m and v)" + (f", sharded over {nproc}" if fsdp else "")
                      + f"; activations 34·s·b·h B per layer at 2-byte precision, ×{act_bytes // 2} here "
                      "(Korthikanti et al. 2022)"
                      + f" + LM head at {select:.0%} of positions"
                      + (" + attention scores (5·a·s²·b)" if scores_kept else "")
                      + (f", ×{CPU_ACTIVATION_SLACK} allocator slack (measured on CPU)" if device == "cpu" else "")
                      + (f"; {device}, {precision}"
                         + ("; + this process's resident torch/transformers runtime" if device == "cpu"
                            else "; excludes CUDA context and allocator slack"))),
        },
        "inputs": _plan_inputs(cfg),
        "notes": notes,
    }
    return plan


CPU_ACTIVATION_SLACK = 1.75


def _plan_device(tc: TrainConfig) -> tuple[str, str]:
    """(device, precision) the trainer would pick for `tc` on this machine; `train.device: cuda` on a
    machine without one plans for a GPU with bf16 units (A100/H100 class)."""
    import torch

    device = "cuda" if tc.device == "cuda" or (tc.device == "auto" and torch.cuda.is_available()) else "cpu"
    if tc.precision != "auto":
        return device, tc.precision
    if device == "cuda" and not torch.cuda.is_available():
        return device, "bf16"
    return device, resolve_precision(tc.precision, torch.device(device))


def _runtime_rss_bytes() -> int:
    """Resident memory of this process (Linux VmRSS), 0 where unknown: a dry run has imported what
    training imports, so this is the runtime's share of a CPU run's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _plan_inputs(cfg: PretrainConfig) -> dict[str, Any]:
    """Where the run would read from, and whether each path exists here (stat only, nothing read)."""
    paths = [*cfg.data.corpus]
    for value in cfg.data.files.values():
        paths.extend([value] if isinstance(value, str) else value)
    out: dict[str, Any] = {"tokenizer": cfg.tokenizer, "mono": paths}
    if cfg.parallel is not None:
        # `include` files are recipes (lists of sources), not data
        out["parallel_sources"] = len(cfg.parallel.all_sources())

    def exists(spec: str) -> bool:
        return Path(str(resolve_data_path(spec.split("=", 1)[-1]))).exists()

    out["missing_here"] = [p for p in [cfg.tokenizer, *paths] if not exists(p)]
    return out


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """The one-screen summary `xling pretrain --dry-run` prints."""
    m, b, s, mem = plan["model"], plan["batch"], plan["schedule"], plan["memory_gib_per_process"]
    lines = [
        f"model: {m['layers']} layers × {m['hidden']} hidden ({m['heads']} heads, ffn {m['ffn']}), vocab "
        f"{m['vocab_size']:,} ({m['vocab_source']}), {m['parameters']:,} parameters ({m['parameters'] / 1e6:.1f}M; "
        f"shape from {m['shape_source']})" + (f", continued from {m['init_from']}" if m["init_from"] else ""),
        "objectives: " + ", ".join(f"{o['name']} ×{o['weight']:g} ({o['data']})" for o in plan["objectives"]),
        f"batch: {b['processes']} process(es) × micro-batch {b['micro_batch_size']} × accumulation "
        f"{b['accumulation']} = {b['global_batch_size']} sequences × {b['max_len']} tokens = "
        f"{b['tokens_per_step']:,} tokens/step; {s['max_steps']:,} steps = {b['tokens_total'] / 1e9:.2f}B tokens",
        f"schedule: lr {s['lr']:g}, {s['warmup_steps']:,} warm-up steps, {s['schedule']} decay, precision "
        f"{s['precision']}, {s['distributed']}",
        f"memory per process: weights+grads+AdamW {mem['weights_grads_adam']:.2f} GiB, activations ≈ "
        f"{mem['activations_estimate']:.2f} GiB → ≈ {mem['total_estimate']:.2f} GiB ({mem['basis']})",
    ]
    inputs = plan["inputs"]
    if "parallel_sources" in inputs:
        lines.append(f"parallel: {inputs['parallel_sources']} source(s)")
    if inputs["missing_here"]:
        lines.append("not on this machine (fine for a plan): " + ", ".join(inputs["missing_here"]))
    lines.extend(f"note: {n}" for n in plan["notes"])
    return lines
