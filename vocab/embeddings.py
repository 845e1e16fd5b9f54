"""Grow a pretrained XLM-R masked-LM's embeddings to an extended vocabulary.

Rows are placed by piece string, not by position, so the helper is correct for any extension whose
vocabulary contains the base one (ours: `vocab extend`, which only appends and moves `<mask>`):
- a base piece keeps its trained row (input embedding, output embedding if untied, LM-head bias);
  `<mask>`'s row moves to its new id with it;
- a new piece gets the mean of the rows of the base pieces it decomposes into under the base model
  (the "FOCUS/Glot500-style" informed init, cheaper than random and better conditioned); `<unk>`
  pieces in that decomposition are ignored, and a piece made only of unknown characters gets the
  mean of all base rows.
Rows the base model had beyond the base tokenizer (padding rows) are dropped.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from vocab.export import SPM_FILE, SPM_VOCAB_FILE, save_tokenizer
from xling.core.errors import InputError
from xling.core.io import atomic_path, read_json, write_json_atomic

log = logging.getLogger(__name__)


def new_row_sources(base_tok: Any, new_tok: Any) -> tuple[dict[int, int], dict[int, list[int]]]:
    """(kept: new id → base id, built: new id → base ids to average) for every new-vocabulary id."""
    base_vocab, new_vocab = base_tok.get_vocab(), new_tok.get_vocab()
    missing = [p for p in base_vocab if p not in new_vocab]
    if missing:
        raise InputError(f"the new tokenizer lacks {len(missing)} base pieces (e.g. {missing[:5]}); it is "
                         "not an extension of the base vocabulary")
    kept = {new_vocab[p]: i for p, i in base_vocab.items()}
    unk = base_tok.unk_token_id
    model = base_tok.backend_tokenizer.model
    built: dict[int, list[int]] = {}
    for piece, new_id in new_vocab.items():
        if piece in base_vocab:
            continue
        # The backend model segments the raw piece string (▁ included) exactly as the base vocabulary
        # would segment that stretch of text, without normalizer or pre-tokenizer in the way.
        built[new_id] = [t.id for t in model.tokenize(piece) if t.id != unk]
    return kept, built


def _grow(old: Any, n_rows: int, kept: dict[int, int], built: dict[int, list[int]]) -> tuple[Any, int]:
    import torch

    n_base = max(kept.values()) + 1
    fallback = old[:n_base].mean(0)
    new = torch.empty((n_rows, *old.shape[1:]), dtype=old.dtype)
    for nid, oid in kept.items():
        new[nid] = old[oid]
    n_fallback = 0
    for nid, ids in built.items():
        if ids:
            new[nid] = old[ids].mean(0)
        else:
            new[nid] = fallback
            n_fallback += 1
    return new, n_fallback


def resize_embeddings(model_dir: str | os.PathLike, base_tok_dir: str | os.PathLike,
                      new_tok_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Load `XLMRobertaForMaskedLM` from `model_dir`, resize it to the tokenizer in `new_tok_dir`, and
    save model + new tokenizer to `out_dir` (atomically) so `from_pretrained(out_dir)` works."""
    import torch
    from transformers import AutoTokenizer, XLMRobertaForMaskedLM

    for d in (model_dir, base_tok_dir, new_tok_dir):
        if not Path(d).is_dir():
            raise FileNotFoundError(f"{d} is not a folder")
    base_tok = AutoTokenizer.from_pretrained(str(base_tok_dir))
    new_tok = AutoTokenizer.from_pretrained(str(new_tok_dir))
    model = XLMRobertaForMaskedLM.from_pretrained(str(model_dir))
    n_old_rows = model.get_input_embeddings().weight.shape[0]
    if n_old_rows < len(base_tok):
        raise InputError(f"{model_dir}: model has {n_old_rows} embedding rows but the base tokenizer "
                         f"{base_tok_dir} has {len(base_tok)} tokens; is it the model's tokenizer?")
    kept, built = new_row_sources(base_tok, new_tok)
    n_new = len(new_tok)
    with torch.no_grad():
        emb, n_fallback = _grow(model.get_input_embeddings().weight.detach().clone(), n_new, kept, built)
        tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
        out_w = None if tied else _grow(model.get_output_embeddings().weight.detach().clone(), n_new,
                                        kept, built)[0]
        bias = _grow(model.lm_head.bias.detach().clone(), n_new, kept, built)[0]
        model.resize_token_embeddings(n_new, mean_resizing=False)
        model.get_input_embeddings().weight.copy_(emb)
        if out_w is not None:
            model.get_output_embeddings().weight.copy_(out_w)
        model.lm_head.bias.copy_(bias)
    for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
        setattr(model.config, name, getattr(new_tok, name))
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(str(tmp))
        save_tokenizer(new_tok, tmp)
        for f in (SPM_FILE, SPM_VOCAB_FILE, "mapping.json"):
            if (Path(new_tok_dir) / f).is_file():
                shutil.copy2(Path(new_tok_dir) / f, tmp / f)
        write_json_atomic(tmp / "resize_embeddings.json", {
            "model": str(model_dir), "base_tokenizer": str(base_tok_dir), "new_tokenizer": str(new_tok_dir),
            "rows_before": n_old_rows, "rows_after": n_new, "kept": len(kept), "new": len(built),
            "new_without_known_pieces": n_fallback, "tied_output_embeddings": tied,
            "mask": [base_tok.mask_token_id, new_tok.mask_token_id],
        })
    log.info("resized %s: %d → %d rows (%d new, %d fell back to the mean row)", model_dir, n_old_rows, n_new,
             len(built), n_fallback)
    return Path(out_dir)


def read_mapping(vocab_dir: str | os.PathLike) -> list[int]:
    """old HF id → new HF id from an extended vocabulary folder's `mapping.json`."""
    p = Path(vocab_dir) / "mapping.json"
    if not p.is_file():
        raise FileNotFoundError(f"{p} does not exist (is {vocab_dir} an extended vocabulary?)")
    return read_json(p)["old_to_new"]
