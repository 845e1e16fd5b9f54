"""SentencePiece model → Hugging Face fast tokenizer with XLM-R conventions.

Id layout: we train SentencePiece with `bos_id=0, pad_id=1, eos_id=2, unk_id=3`, which is exactly
XLM-R's HF layout (`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3), so every SentencePiece id *is* the HF
id and fairseq's +1 offset disappears; `<mask>` is appended as the last id.

Why the backend is built here instead of using `XLMRobertaTokenizer`: in transformers 5 that class
rebuilds its backend in `__init__` (also when loading `tokenizer.json`) as a Unigram model with
`byte_fallback=False` behind a WhitespaceSplit+Metaspace pre-tokenizer. On byte-fallback models it
emits `<unk>` where SentencePiece emits `<0xF0>…` bytes, and it splits on tabs and other Unicode
spaces that SentencePiece keeps. We build the `tokenizers.Tokenizer` to mirror the model's own
`normalizer_spec` and name the class `PreTrainedTokenizerFast` in `tokenizer_config.json`: transformers
4 loads that generic class from `tokenizer.json` verbatim, and transformers 5 maps the name to
`TokenizersBackend`, which does the same (`XLMRobertaTokenizerFast` would be rebuilt by 5, and
`TokenizersBackend` does not exist in 4). `AutoTokenizer.from_pretrained(DIR)` then gives the
SentencePiece ids exactly in both (tests/vocab/test_export.py, tests/vocab/test_one_tokenization.py).

One tokenization: SentencePiece's unigram Viterbi adds piece scores in float32 over the whole line,
HF tokenizers' in float64 per word, and both keep the first of equal-scored candidates. Two
segmentations with the same pieces in another order (`0 00` / `00 0`) are an exact tie in float64
but float32 rounding of the running sum decides it one way or the other, so the two disagree on
rare lines (8 of 35,469 real kk/ug/ru/en lines with a 3,000-piece vocabulary). No rescoring of the
HF side can copy float32 rounding that depends on the rest of the line, so the export rounds every
unigram score to a multiple of `SCORE_GRID` (2⁻⁸) in *both* files: every path score is then an
exact float32 and float64 number (while |sum| < 2¹⁶, ≈5,000 pieces in one line), ties are exact in
both, and both break them the same way (earliest start wins). The rounding (≤ 0.002 nats per piece)
changed the segmentation of 14 of those 35,469 lines and no token count (docs/vocab.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from xling.core.errors import InputError
from xling.core.io import atomic_path, read_json, write_json_atomic, write_text_atomic

SPM_FILE = "sentencepiece.bpe.model"  # XLM-R's file name
SPM_VOCAB_FILE = "sentencepiece.bpe.vocab"
SPECIALS = {"bos": ("<s>", 0), "pad": ("<pad>", 1), "eos": ("</s>", 2), "unk": ("<unk>", 3)}
MASK = "<mask>"
# Unigram scores are rounded to multiples of this (see the module docstring): fine enough to keep
# SentencePiece's segmentation (14 of 35,469 lines changed at 2⁻⁸, 1,105 at 2⁻⁴), coarse enough that
# float32 sums of a long line stay exact (2⁻¹⁰ already lost exactness on a 1,287-piece line).
SCORE_GRID_BITS = 8
# What transformers 4 and 5 both load from tokenizer.json verbatim (5 aliases it to TokenizersBackend).
TOKENIZER_CLASS = "PreTrainedTokenizerFast"
MODEL_INPUT_NAMES = ["input_ids", "attention_mask"]  # XLM-R's: no token_type_ids

# SentencePiece piece types (sentencepiece_model.proto): NORMAL=1, UNKNOWN=2, CONTROL=3, USER_DEFINED=4,
# BYTE=6, UNUSED=5.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def load_proto(model_file: str | os.PathLike) -> Any:
    """Parse a SentencePiece `.model` file into its ModelProto."""
    from sentencepiece import sentencepiece_model_pb2

    p = Path(model_file)
    if not p.is_file():
        raise FileNotFoundError(f"SentencePiece model {p} does not exist")
    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(p.read_bytes())
    except Exception as e:  # protobuf raises its own DecodeError type
        raise InputError(f"{p}: not a SentencePiece model ({e})") from None
    if not proto.pieces:
        raise InputError(f"{p}: SentencePiece model has no pieces")
    return proto


def check_xlmr_ids(proto: Any, where: str) -> None:
    """Fail unless the first four pieces are XLM-R's `<s> <pad> </s> <unk>`."""
    got = [p.piece for p in proto.pieces[:4]]
    want = [s for s, _ in SPECIALS.values()]
    if got != want:
        raise InputError(f"{where}: first pieces are {got}, expected XLM-R's {want}; train with "
                         "bos_id=0 pad_id=1 eos_id=2 unk_id=3 (as `xling vocab train` does)")


def write_vocab_file(proto: Any, path: str | os.PathLike) -> Path:
    """The `.vocab` text file SentencePiece writes next to a model: `piece<TAB>score` per id."""
    return write_text_atomic(path, "".join(f"{p.piece}\t{p.score:g}\n" for p in proto.pieces))


def snap_scores(proto: Any) -> int:
    """Round the scores of a unigram model's normal pieces to multiples of 2**-SCORE_GRID_BITS, in
    place; returns how many changed. BPE scores (−merge rank, whole numbers) need no rounding."""
    if proto.trainer_spec.model_type != 1:
        return 0
    scale = float(2 ** SCORE_GRID_BITS)
    changed = 0
    for p in proto.pieces:
        if p.type == NORMAL:
            snapped = round(p.score * scale) / scale
            changed += snapped != p.score
            p.score = snapped
    return changed


def build_backend(proto: Any) -> Any:
    """A `tokenizers.Tokenizer` that segments exactly like the SentencePiece model `proto`."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ns = proto.normalizer_spec
    if not ns.escape_whitespaces or proto.trainer_spec.treat_whitespace_as_suffix:
        raise InputError("only SentencePiece models with escape_whitespaces=true and whitespace as prefix "
                         "(the defaults) can be exported")
    byte_fallback = proto.trainer_spec.byte_fallback
    model_type = proto.trainer_spec.model_type  # 1 = UNIGRAM, 2 = BPE
    vocab = [(p.piece, p.score) for p in proto.pieces] + [(MASK, 0.0)]
    unk_id = next(i for i, p in enumerate(proto.pieces) if p.type == UNKNOWN)
    if model_type == 1:
        model = models.Unigram(vocab, unk_id=unk_id, byte_fallback=byte_fallback)
    elif model_type == 2:
        model = models.BPE(*_bpe_vocab_merges(proto), unk_token=proto.pieces[unk_id].piece,
                           byte_fallback=byte_fallback, fuse_unk=True)
    else:
        raise InputError(f"SentencePiece model_type {model_type} is not supported (unigram or bpe only)")
    tok = Tokenizer(model)

    norm = []
    if ns.precompiled_charsmap:
        norm.append(normalizers.Precompiled(ns.precompiled_charsmap))
    # SentencePiece only treats U+0020 as whitespace (after its charsmap): runs collapse and ends are
    # trimmed; tabs and no-break spaces stay ordinary characters, so no WhitespaceSplit here.
    if ns.remove_extra_whitespaces:
        norm += [normalizers.Replace(Regex(" {2,}"), " "), normalizers.Replace(Regex("^ +| +$"), "")]
    if norm:
        tok.normalizer = normalizers.Sequence(norm)
    prepend = "always" if ns.add_dummy_prefix else "never"
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend,
                                                 split=proto.trainer_spec.split_by_whitespace)
    steps = [decoders.Replace("▁", " ")]
    if byte_fallback:
        steps.append(decoders.ByteFallback())
    steps.append(decoders.Fuse())
    if ns.add_dummy_prefix:
        steps.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(steps)
    bos, eos = SPECIALS["bos"], SPECIALS["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos[0]} $A {eos[0]}", pair=f"{bos[0]} $A {eos[0]} {eos[0]} $B {eos[0]}",
        special_tokens=[bos, eos])
    return tok


def _bpe_vocab_merges(proto: Any) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """BPE vocab and merges recovered from piece scores (SentencePiece stores no merge list)."""
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    vocab[MASK] = len(proto.pieces)
    scored = sorted(((p.score, i, p.piece) for i, p in enumerate(proto.pieces) if p.type == NORMAL),
                    key=lambda t: (-t[0], t[1]))
    merges = []
    for _, _, piece in scored:
        # SentencePiece merges any adjacent pair whose concatenation is a piece (best score first), so
        # every split of a piece into two existing pieces is a valid merge at that piece's rank.
        splits = [(piece[:k], piece[k:]) for k in range(1, len(piece))
                  if piece[:k] in vocab and piece[k:] in vocab]
        merges.extend(sorted(splits, key=lambda lr: (vocab[lr[0]], vocab[lr[1]])))
    return vocab, merges


def wrap_hf(backend: Any) -> Any:
    """Wrap a backend tokenizer as a transformers tokenizer carrying XLM-R's special tokens."""
    from transformers import PreTrainedTokenizerFast  # transformers 5: TokenizersBackend under its old name

    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token=MASK, model_max_length=512,
        model_input_names=MODEL_INPUT_NAMES,
    )


def export_hf(model_file: str | os.PathLike, out_dir: str | os.PathLike, model_max_length: int = 512) -> Path:
    """Write HF tokenizer files for `model_file` into `out_dir` (created); returns `out_dir`.

    `out_dir/sentencepiece.bpe.model` is (re)written with the scores the HF files use (`snap_scores`),
    so both files in the folder give the same ids. The folder then loads offline with
    `AutoTokenizer.from_pretrained(out_dir)` in transformers 4 and 5, and `<mask>` is id `len(pieces)`.
    """
    proto = load_proto(model_file)
    check_xlmr_ids(proto, str(model_file))
    snap_scores(proto)
    tok = wrap_hf(build_backend(proto))
    tok.model_max_length = model_max_length
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / SPM_FILE) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    tok.save_pretrained(str(out))
    portable_config(out)
    if tok.mask_token_id != len(proto.pieces) or tok.convert_tokens_to_ids("<unk>") != 3:
        raise RuntimeError(f"{out}: exported ids do not follow XLM-R's layout (mask={tok.mask_token_id})")
    _note_in_config(out / "tokenizer_config.json", proto)
    return out


def _note_in_config(path: Path, proto: Any) -> None:
    """Name the class both transformers 4 and 5 load verbatim, and record what the export mirrors."""
    cfg = read_json(path)
    cfg["xling_export"] = {
        "source": SPM_FILE,
        "sentencepiece_pieces": len(proto.pieces),
        "mask_id": len(proto.pieces),
        "model_type": {1: "unigram", 2: "bpe"}.get(proto.trainer_spec.model_type, "other"),
        "byte_fallback": proto.trainer_spec.byte_fallback,
        "normalization": proto.normalizer_spec.name,
        "score_grid": f"2**-{SCORE_GRID_BITS}" if proto.trainer_spec.model_type == 1 else None,
        "note": "ids equal SentencePiece ids; backend mirrors sentencepiece.bpe.model (see vocab/export.py)",
    }

    write_json_atomic(path, cfg)


# Keys transformers 5 adds to a re-saved config that only describe where it was loaded from.
_LOAD_NOISE = ("is_local", "local_files_only", "_commit_hash")


def portable_config(folder: str | os.PathLike) -> Path:
    """Rewrite `folder/tokenizer_config.json` of a generic (tokenizer.json-only) tokenizer so that
    transformers 4 and 5 both load it: `save_pretrained` in 5 names `TokenizersBackend`, which 4 lacks.
    A model-specific class (a downloaded XLM-R tokenizer) is left alone."""
    path = Path(folder) / "tokenizer_config.json"
    cfg = read_json(path)
    if not isinstance(cfg, dict):
        raise InputError(f"{path}: expected a JSON object")
    if cfg.get("tokenizer_class") in (None, "TokenizersBackend", TOKENIZER_CLASS):
        cfg["tokenizer_class"] = TOKENIZER_CLASS
        cfg.setdefault("model_input_names", MODEL_INPUT_NAMES)
        for key in _LOAD_NOISE:
            cfg.pop(key, None)
        write_json_atomic(path, cfg)
    return path


def save_tokenizer(tokenizer: Any, folder: str | os.PathLike) -> Path:
    """`tokenizer.save_pretrained(folder)` whose config loads in transformers 4 and 5 (`portable_config`)."""
    tokenizer.save_pretrained(str(folder))
    portable_config(folder)
    return Path(folder)
