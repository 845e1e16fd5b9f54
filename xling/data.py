"""Pretraining data: token shards, packing, temperature-sampled languages, rank/worker sharding.

1. `prepare_shards` tokenises each language's cleaned corpus (or plain text files) once into a
   flat token stream (`<lang>.train.bin` / `<lang>.eval.bin`, numpy memmaps of uint16/uint32,
   documents separated by </s>). The folder is keyed by a hash of the input files (path, size,
   mtime), the tokenizer file and the settings, so a re-run or a second run on the same data
   reuses it, and it is written atomically.
2. `MonoPlan` decides, as a pure function of the global example index, which language each packed
   sequence comes from (p ∝ n^α from `corpora.sampling`, α following an `AlphaSchedule`) and which
   block of that language's stream it is. Nothing depends on the number of ranks or workers, so
   a 2-process run sees exactly the sequences a 1-process run sees, and resuming needs only the
   step number.
3. `MonoBatches` is a map-style dataset over global micro-batch indices; the trainer gives each
   rank its own indices and a `DataLoader` may spread them over workers without changing order.

Packing: a language's stream is cut into blocks of `max_len - 2` tokens (room for <s> and </s>),
no padding; the last block wraps around to the start of the stream. Each pass (epoch) over a
language uses a fresh block order and a fresh offset, so repeated low-resource text is packed
differently each time. The block order is an affine permutation j → (a·j + b) mod B: O(1)
memory for any corpus size, and consecutive draws land far apart in the stream.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from corpora.corpus import corpus_inputs, is_lang_code, is_tsv_name, iter_documents, text_input
from corpora.sampling import AlphaSchedule, check_alpha, exceeds_max_repeats, sampling_plan
from xling.core.errors import InputError
from xling.core.io import atomic_path, read_json, sha256_file, write_json_atomic
from xling.core.paths import split_column
from xling.objectives.base import MonoExample, Objective

log = logging.getLogger(__name__)

SHARD_FORMAT = 1
_CHUNK = 65536  # examples per language-draw chunk (MonoPlan)
_BUCKETS = 200  # α-schedule resolution


@dataclass
class DataConfig:
    """Where the monolingual text is and how it is mixed.

    `corpus`: cleaned corpus folders (`ROOT/kept/<lang>/*.jsonl.gz`) and/or `LANG=path` specs;
    `files`: `{lang: path or [paths]}` of plain text (one document per line) or JSON-lines shards.
    Paths may start with `$XLING_DATA/`.
    """

    corpus: list[str] = field(default_factory=list)
    files: dict[str, str | list[str]] = field(default_factory=dict)
    languages: list[str] | None = None  # keep only these languages
    max_len: int = 512  # tokens per sequence including <s> and </s>
    alpha: float = 0.3  # p ∝ n^α; ignored when alpha_schedule is set
    alpha_schedule: list[tuple[float, float]] | None = None  # [(progress, α), ...], e.g. [[0, 0.7], [1, 0.3]]
    anneal: bool = True  # interpolate α linearly between schedule points
    max_repeats: float | None = None  # cap on passes over any language (water-filled, corpora.sampling)
    max_docs_per_lang: int | None = None  # read at most this many documents per language
    eval_fraction: float = 0.02  # documents held out per language for evaluation ...
    eval_max_docs: int = 500  # ... but at most this many
    cache_dir: str | None = None  # token shard cache; default OUT/token-shards
    num_workers: int = 0  # DataLoader workers building batches
    view: list[str] = field(default_factory=list)  # languages read through their Latin view (xling.translit)

    def __post_init__(self) -> None:
        if self.max_len < 8:
            raise InputError(f"max_len must be at least 8, got {self.max_len}")
        # α, or each schedule phase's α, by corpora.sampling's one rule
        if self.alpha_schedule is None:
            check_alpha(self.alpha)
        else:
            try:
                self.alpha_schedule_obj()
            except ValueError as e:
                raise InputError(f"alpha_schedule: {e}") from None
        if not 0.0 <= self.eval_fraction < 0.5:
            raise InputError(f"eval_fraction must be in [0, 0.5), got {self.eval_fraction}")
        if self.num_workers < 0:
            raise InputError(f"num_workers must be ≥ 0, got {self.num_workers}")
        if self.alpha_schedule is not None:
            try:
                self.alpha_schedule_obj()
            except ValueError as e:
                raise InputError(f"alpha_schedule: {e}") from None
        if self.max_repeats is not None and not self.max_repeats > 0:
            raise InputError(f"max_repeats must be positive, got {self.max_repeats}")
        if self.max_docs_per_lang is not None and self.max_docs_per_lang < 1:
            raise InputError(f"max_docs_per_lang must be ≥ 1, got {self.max_docs_per_lang}")
        if self.eval_max_docs < 0:
            raise InputError(f"eval_max_docs must be ≥ 0, got {self.eval_max_docs}")

    def alpha_schedule_obj(self) -> Any:
        phases = self.alpha_schedule or [(0.0, self.alpha)]
        return AlphaSchedule(phases=[tuple(p) for p in phases], anneal=self.anneal)

    def input_files(self) -> dict[str, list[Path]]:
        """{lang: files}, resolved; clear errors for missing files or no inputs."""
        out: dict[str, list[Path]] = {lang: list(files) for lang, files in corpus_inputs(self.corpus).items()} \
            if self.corpus else {}
        for lang, paths in self.files.items():
            if not is_lang_code(lang):
                raise InputError(f"data.files: {lang!r} is not a language code like kaz_Cyrl")
            for p in [paths] if isinstance(paths, str) else paths:
                out.setdefault(lang, []).append(text_input(p, f"data.files.{lang}: {p}"))
        if self.languages is not None:
            unknown = sorted(set(self.languages) - set(out))
            if unknown:
                raise InputError(f"data.languages: no input files for {', '.join(unknown)} (have: {', '.join(sorted(out))})")
            out = {k: v for k, v in out.items() if k in self.languages}
        if not out:
            raise InputError("data: no input text; set data.files ({lang: path}) or data.corpus (corpus folders)")
        return dict(sorted(out.items()))


# ----------------------------------------------------------------------------------------- shards


@dataclass
class LangShard:
    lang: str
    train: np.ndarray  # flat token stream (memmap), documents separated by </s>
    eval: np.ndarray
    n_docs: int
    n_eval_docs: int



def tokenizer_file(tokenizer_dir: Path) -> Path:
    p = Path(tokenizer_dir) / "tokenizer.json"
    if not p.is_file():
        raise FileNotFoundError(f"{tokenizer_dir}: no tokenizer.json (expected a Hugging Face tokenizer folder, "
                                "e.g. the output of `xling vocab train`)")
    return p


def shard_key(lang: str, files: list[Path], tokenizer_sha: str, cfg: DataConfig) -> str:
    stats = []
    for f in files:
        src, column = split_column(f)
        st = src.stat()
        entry = [str(src.resolve()), st.st_size, st.st_mtime_ns]
        if column or is_tsv_name(src):  # which column is read (0 = the last) changes the text
            entry.append(f"tsv#{column}")
        stats.append(entry)
    payload = {"format": SHARD_FORMAT, "lang": lang, "files": stats, "tokenizer": tokenizer_sha,
               "max_docs": cfg.max_docs_per_lang, "eval_fraction": cfg.eval_fraction, "eval_max_docs": cfg.eval_max_docs}
    if cfg.view:  # only when set, so existing shard caches stay valid
        from xling.translit import active_view

        payload["view"] = active_view(lang, cfg.view)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def prepare_shards(cfg: DataConfig, tokenizer_dir: Path, cache_dir: Path, progress: bool = True) -> dict[str, Path]:
    """Tokenise every language once (cached); returns {lang: shard folder}."""
    tok_path = tokenizer_file(tokenizer_dir)
    tok_sha = sha256_file(tok_path)
    out = {}
    for lang, files in cfg.input_files().items():
        folder = Path(cache_dir) / f"{lang}-{shard_key(lang, files, tok_sha, cfg)}"
        if not (folder / "meta.json").is_file():
            _tokenise_language(lang, files, tok_path, folder, cfg, progress)
        out[lang] = folder
    return out


def _tokenise_language(lang: str, files: list[Path], tok_path: Path, folder: Path, cfg: DataConfig,
                       progress: bool) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tok_path))
    eos = tok.token_to_id("</s>")
    if eos is None:
        raise InputError(f"{tok_path}: tokenizer has no </s> token")
    dtype = np.uint16 if tok.get_vocab_size() <= 65535 else np.uint32
    stride = max(2, round(1 / cfg.eval_fraction)) if cfg.eval_fraction > 0 else 0
    n_docs = n_eval = 0
    with atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        with open(tmp / "train.bin", "wb") as ftrain, open(tmp / "eval.bin", "wb") as feval:
            batch: list[str] = []

            def flush() -> None:
                nonlocal n_docs, n_eval
                for enc in tok.encode_batch(batch, add_special_tokens=False):
                    ids = np.asarray([*enc.ids, eos], dtype=dtype)
                    # every stride-th document is held out (spread over the corpus, which may be sorted)
                    held = stride and n_docs % stride == stride // 2 and n_eval < cfg.eval_max_docs
                    (feval if held else ftrain).write(ids.tobytes())
                    n_eval += bool(held)
                    n_docs += 1
                batch.clear()

            from xling.translit import text_view

            see = text_view(lang, cfg.view)
            docs = iter_documents(files)
            for doc in tqdm(docs, desc=f"tokenise {lang}", unit=" docs", disable=not progress, leave=False):
                text = doc.get("text")
                if not isinstance(text, str):
                    raise InputError(f"{lang}: a document in {', '.join(map(str, files))} has no 'text' string")
                if not text.strip():
                    continue
                batch.append(see(text))
                if len(batch) >= 2048:
                    flush()
                if cfg.max_docs_per_lang and n_docs + len(batch) >= cfg.max_docs_per_lang:
                    break
            if batch:
                flush()
        n_train_tokens = (tmp / "train.bin").stat().st_size // np.dtype(dtype).itemsize
        n_eval_tokens = (tmp / "eval.bin").stat().st_size // np.dtype(dtype).itemsize
        if n_train_tokens == 0:
            raise InputError(f"language {lang}: no text in {', '.join(map(str, files))} (empty shard); "
                             "remove the language from data.files/data.corpus or fix the input")
        write_json_atomic(tmp / "meta.json", {
            "format": SHARD_FORMAT, "lang": lang, "dtype": np.dtype(dtype).name, "files": [str(f) for f in files],
            "tokenizer": str(tok_path), "train_tokens": int(n_train_tokens), "eval_tokens": int(n_eval_tokens),
            "train_docs": n_docs - n_eval, "eval_docs": n_eval})
    log.info("tokenised %s: %d docs, %d train / %d eval tokens → %s", lang, n_docs, n_train_tokens, n_eval_tokens,
             folder)


def load_shards(folders: dict[str, Path]) -> dict[str, LangShard]:
    shards = {}
    for lang, folder in folders.items():
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"token shard {folder} is incomplete (no meta.json); delete it and re-run")
        meta = read_json(meta_path)
        dtype = np.dtype(meta["dtype"])

        def mm(name: str, n: int, folder: Path = folder, dtype: np.dtype = dtype) -> np.ndarray:
            if n == 0:
                return np.zeros(0, dtype=dtype)
            arr = np.memmap(folder / name, dtype=dtype, mode="r")
            if len(arr) != n:
                raise InputError(f"token shard {folder / name}: {len(arr)} tokens, meta.json says {n}; delete {folder}")
            return arr

        shards[lang] = LangShard(lang, mm("train.bin", meta["train_tokens"]), mm("eval.bin", meta["eval_tokens"]),
                                 meta["train_docs"], meta["eval_docs"])
    return shards


# ------------------------------------------------------------------------------------ language plan


def _rng(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(list(key)))


class MonoPlan:
    """Which language and which block each global example index gets; a pure function of the index.

    `n_examples` is the number of sequences the whole run draws (α-schedule progress is
    index / n_examples). Per-language probabilities come from `corpora.sampling.sampling_plan` on
    token counts, with `max_repeats` applied over the planned total.
    """

    def __init__(self, tokens: dict[str, int], block: int, n_examples: int, seed: int, schedule: Any,
                 max_repeats: float | None = None) -> None:
        self.langs = sorted(tokens)
        self.tokens = tokens
        self.block = block
        self.n_examples = max(1, n_examples)
        self.seed = seed
        self.n_blocks = {lang: math.ceil(tokens[lang] / block) for lang in self.langs}
        total = float(self.n_examples) * block
        corpus = sum(tokens.values())
        if exceeds_max_repeats(total, corpus, max_repeats):
            # the sampler's own message speaks of a total; here the total is steps × batch × length
            raise InputError(
                f"pretraining draws {self.n_examples:,} sequences × {block} tokens = {total:,.0f} tokens, more than "
                f"data.max_repeats × the corpus ({max_repeats:g} × {corpus:,} tokens): raise data.max_repeats (in a "
                "run recipe pretrain.common.data.max_repeats; it defaults to mix.max_repeats) or lower "
                "train.max_steps or train.global_batch_size")
        self.plans = [sampling_plan(tokens, schedule.alpha_at(b / _BUCKETS), total=total, max_repeats=max_repeats,
                                    unit="tokens") for b in range(_BUCKETS + 1)]
        probs = np.array([[p.probabilities()[lang] for lang in self.langs] for p in self.plans])
        self.cum = np.cumsum(probs, axis=1)
        self.cum[:, -1] = 1.0
        n_chunks = math.ceil(self.n_examples / _CHUNK)
        # occurrences of each language before each chunk, so any index resolves without a scan
        self.before = np.zeros((n_chunks + 1, len(self.langs)), dtype=np.int64)
        for c in range(n_chunks):
            self.before[c + 1] = self.before[c] + self._chunk_counts(c)
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None

    def initial_plan(self) -> Any:
        return self.plans[0]

    def _chunk_counts(self, c: int) -> np.ndarray:
        """Draws per language in chunk c; equal to bincount(_chunk_langs(c)), but when one α covers the
        chunk it counts on sorted uniforms (cheaper than assigning every draw; matters at 10⁹ sequences)."""
        start = c * _CHUNK
        b0 = min((start * _BUCKETS) // self.n_examples, _BUCKETS)
        b1 = min(((start + _CHUNK - 1) * _BUCKETS) // self.n_examples, _BUCKETS)
        if b0 != b1:
            return np.bincount(self._chunk_langs(c), minlength=len(self.langs))
        u = np.sort(_rng(self.seed, 1, c).random(_CHUNK))
        edges = np.searchsorted(u, self.cum[b0][:-1], side="left")  # draws below each cumulative bound
        return np.diff(np.concatenate([[0], edges, [_CHUNK]]))

    def _chunk_langs(self, c: int) -> np.ndarray:
        start = c * _CHUNK
        n = _CHUNK  # fixed length: the uniforms of a chunk depend only on (seed, chunk)
        u = _rng(self.seed, 1, c).random(n)
        bucket = np.minimum((np.arange(start, start + n) * _BUCKETS) // self.n_examples, _BUCKETS)
        if bucket[0] == bucket[-1]:  # the usual case at scale: one α for the whole chunk
            langs = np.searchsorted(self.cum[bucket[0]], u, side="right")
        else:
            langs = (u[:, None] >= self.cum[bucket]).sum(axis=1)
        return langs.clip(max=len(self.langs) - 1)

    def _chunk(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is None or self._cache[0] != c:
            langs = self._chunk_langs(c)
            occ = np.empty(len(langs), dtype=np.int64)
            for li in range(len(self.langs)):
                sel = langs == li
                occ[sel] = self.before[min(c, len(self.before) - 1), li] + np.arange(int(sel.sum()))
            self._cache = (c, langs, occ)
        return self._cache[1], self._cache[2]

    def lookup(self, i: int) -> tuple[str, int]:
        """(language, occurrence k) of global example i: it is the k-th draw from that language."""
        if not 0 <= i < (len(self.before) - 1) * _CHUNK:
            raise IndexError(f"example {i} is beyond the planned {self.n_examples}")
        langs, occ = self._chunk(i // _CHUNK)
        return self.langs[int(langs[i % _CHUNK])], int(occ[i % _CHUNK])

    def block_tokens(self, stream: np.ndarray, lang: str, k: int) -> np.ndarray:
        """The k-th block drawn from `lang`: pass k // B, position k % B of that pass's block order."""
        n_blocks = self.n_blocks[lang]
        epoch, j = divmod(k, n_blocks)
        li = self.langs.index(lang)
        rng = _rng(self.seed, 2, li, epoch)
        a = int(rng.integers(1, max(2, n_blocks)))
        while math.gcd(a, n_blocks) != 1:
            a += 1
        b = int(rng.integers(0, n_blocks))
        offset = int(rng.integers(0, self.block)) if epoch else 0
        start = (((a * j + b) % n_blocks) * self.block + offset) % len(stream)
        return take_wrapped(stream, start, self.block)

    def example(self, stream_of: dict[str, np.ndarray], i: int) -> MonoExample:
        lang, k = self.lookup(i)
        return MonoExample(ids=self.block_tokens(stream_of[lang], lang, k).astype(np.int64), lang=lang)

    def sampled_tokens(self, n: int) -> dict[str, int]:
        """Tokens drawn per language by the first n examples (for logging repeats)."""
        out = {}
        c, r = divmod(n, _CHUNK)
        langs = self._chunk_langs(c) if r else None
        for li, lang in enumerate(self.langs):
            count = int(self.before[min(c, len(self.before) - 1), li])
            if langs is not None:
                count += int((langs[:r] == li).sum())
            out[lang] = count * self.block
        return out


def take_wrapped(stream: np.ndarray, start: int, n: int) -> np.ndarray:
    """n tokens from `stream` starting at `start`, wrapping to the beginning (no padding ever)."""
    if len(stream) == 0:
        raise InputError("empty token stream")
    out = stream[start:start + n]
    while len(out) < n:
        out = np.concatenate([out, stream[: n - len(out)]])
    return out


# ------------------------------------------------------------------------------------ micro-batches


class MicroSchedule:
    """Which objective each global micro-batch uses (weighted, from the seed), and, for monolingual
    objectives, which slot of the monolingual example sequence it reads.

    Global micro-batch m of optimizer step s, accumulation index a, rank r is
    m = (s·accum + a)·world + r, so runs with the same global batch read the same micro-batches
    whatever their split into ranks and accumulation steps.
    """

    def __init__(self, weights: list[float], is_mono: list[bool], n_micro: int, seed: int) -> None:
        w = np.asarray(weights, dtype=np.float64)
        if len(w) == 0 or (w <= 0).any():
            raise InputError(f"objective weights must be positive, got {weights}")
        self.n_micro = n_micro
        self.objective = (_rng(seed, 3).choice(len(w), size=n_micro, p=w / w.sum()) if len(w) > 1
                          else np.zeros(n_micro, dtype=np.int64))
        mono = np.asarray(is_mono)[self.objective]
        self.mono_slot = np.cumsum(mono) - 1
        self.is_mono = mono
        self.n_mono = int(mono.sum())

    @staticmethod
    def index(step: int, accum_i: int, rank: int, accum: int, world: int) -> int:
        return (step * accum + accum_i) * world + rank


class MonoBatches(torch.utils.data.Dataset):
    """Map-style dataset: item m (a global micro-batch index) → (collated batch, languages)."""

    def __init__(self, plan: MonoPlan, shards: dict[str, LangShard], schedule: MicroSchedule,
                 objectives: list[Objective], micro_batch: int, seed: int) -> None:
        self.plan = plan
        self.streams = {lang: s.train for lang, s in shards.items()}
        self.schedule = schedule
        self.objectives = objectives
        self.micro_batch = micro_batch
        self.seed = seed

    def __len__(self) -> int:
        return self.schedule.n_micro

    def __getitem__(self, m: int) -> tuple[dict[str, torch.Tensor], list[str]]:
        objective = self.objectives[int(self.schedule.objective[m])]
        slot = int(self.schedule.mono_slot[m])
        first = slot * self.micro_batch
        examples = [self.plan.example(self.streams, first + i) for i in range(self.micro_batch)]
        return objective.collate(examples, batch_generator(self.seed, m)), [e.lang for e in examples]


def batch_generator(seed: int, m: int) -> torch.Generator:
    """The masking RNG of global micro-batch m: independent of rank, worker and resume point."""
    return torch.Generator().manual_seed((seed * 1_000_003 + m * 7919 + 12345) % (2**63 - 1))


def mono_loader(dataset: MonoBatches, indices: list[int], num_workers: int) -> Iterator[tuple[dict, list[str]]]:
    """Batches for this rank's micro-batch indices, in order (workers keep the order)."""
    if num_workers == 0:
        return (dataset[m] for m in indices)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, sampler=indices, num_workers=num_workers,
                                         persistent_workers=False, prefetch_factor=4,
                                         multiprocessing_context="fork" if os.name == "posix" else None)
    return iter(loader)


def eval_batches(shards: dict[str, LangShard], objective: Objective, max_len: int, n_seqs: int, micro_batch: int,
                 seed: int) -> dict[str, list[dict[str, torch.Tensor]]]:
    """Fixed held-out MLM batches per language (same masks every evaluation)."""
    block = max_len - 2
    out = {}
    for li, (lang, shard) in enumerate(sorted(shards.items())):
        stream = shard.eval
        if len(stream) == 0:
            log.warning("no held-out text for %s (too few documents); skipping its evaluation", lang)
            continue
        n = min(n_seqs, max(1, math.ceil(len(stream) / block)))
        seqs = [MonoExample(take_wrapped(stream, i * block % len(stream), min(block, len(stream))).astype(np.int64),
                            lang) for i in range(n)]
        gen = torch.Generator().manual_seed(seed + 1000 + li)
        out[lang] = [objective.collate(seqs[i:i + micro_batch], gen) for i in range(0, n, micro_batch)]
    return out
