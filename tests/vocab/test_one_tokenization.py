"""One tokenization: the exported HF tokenizer and the SentencePiece model next to it give the same ids.

SentencePiece sums unigram scores in float32 over the line, HF tokenizers in float64 per word, and an
exact tie (`0 00` vs `00 0`) then goes whichever way float32 rounding of the running sum pushes it.
The fast test builds such a tie by hand; the slow one sweeps every line of the data root's kk/ug/ru/en/tr
text for unigram and BPE vocabularies of three sizes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# Scores (exact float32 values) for which SentencePiece resolves the tie in "▁000" after "а а" as
# `▁ 00 0` (float32 rounding of the running sum), although both orders add the same two scores.
TIE_SCORES = {"▁": -2.459311008453369, "0": -5.429616928100586, "00": -10.601143836975098,
              "а": -2.1343421936035156}
TIE_LINE = "а а 000"


def hand_model(scores: dict[str, float]):
    """A unigram ModelProto with XLM-R's specials and `scores`' pieces, built field by field."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    m = pb.ModelProto()
    ts = m.trainer_spec
    ts.model_type, ts.vocab_size = 1, 4 + len(scores)
    ts.bos_id, ts.pad_id, ts.eos_id, ts.unk_id = 0, 1, 2, 3
    ns = m.normalizer_spec
    ns.name, ns.add_dummy_prefix, ns.remove_extra_whitespaces, ns.escape_whitespaces = "identity", True, True, True
    for piece, kind in [("<s>", 3), ("<pad>", 3), ("</s>", 3), ("<unk>", 2)]:
        p = m.pieces.add()
        p.piece, p.type, p.score = piece, kind, 0.0
    for piece, score in scores.items():
        p = m.pieces.add()
        p.piece, p.type, p.score = piece, 1, score
    return m


def test_exported_tokenizer_breaks_a_float32_tie_like_sentencepiece(tmp_path):
    import sentencepiece as spm
    from transformers import AutoTokenizer

    from vocab.export import build_backend, export_hf

    raw = hand_model(TIE_SCORES)
    (tmp_path / "raw.model").write_bytes(raw.SerializeToString())
    sp_raw = spm.SentencePieceProcessor(model_file=str(tmp_path / "raw.model"))
    # The case is a real disagreement: unrounded scores, SentencePiece vs the HF backend built from them.
    assert sp_raw.encode(TIE_LINE, out_type=str)[-3:] == ["▁", "00", "0"]
    raw_hf = build_backend(raw).encode(TIE_LINE, add_special_tokens=False).tokens
    assert raw_hf[-3:] == ["▁", "0", "00"]

    out = export_hf(tmp_path / "raw.model", tmp_path / "hf")
    sp = spm.SentencePieceProcessor(model_file=str(out / "sentencepiece.bpe.model"))
    tok = AutoTokenizer.from_pretrained(str(out))
    # Hand-computed: with exact sums both orders tie, and both Viterbis keep the first candidate
    # for an end position, i.e. the one whose last piece starts earliest: `▁ 0 00`.
    want = ["▁", "а", "▁", "а", "▁", "0", "00"]
    assert sp.encode(TIE_LINE, out_type=str) == want
    assert tok.convert_ids_to_tokens(tok(TIE_LINE, add_special_tokens=False)["input_ids"]) == want
    assert sp.encode(TIE_LINE) == tok(TIE_LINE, add_special_tokens=False)["input_ids"]
    for line in ["000 000", "а 00 000 0000", "0" * 41]:
        assert sp.encode(line) == tok(line, add_special_tokens=False)["input_ids"], line


def test_snapped_scores_are_on_the_grid_and_written_back(tmp_path):
    from vocab.export import SCORE_GRID_BITS, export_hf, load_proto

    (tmp_path / "raw.model").write_bytes(hand_model(TIE_SCORES).SerializeToString())
    out = export_hf(tmp_path / "raw.model", tmp_path / "hf")
    got = {p.piece: p.score for p in load_proto(out / "sentencepiece.bpe.model").pieces}
    for piece, score in TIE_SCORES.items():
        assert got[piece] == round(score * 256) / 256 and abs(got[piece] - score) <= 2 ** -(SCORE_GRID_BITS + 1)
    import json

    vocab = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    assert dict(vocab)["00"] == got["00"]


def test_pretraining_shards_evaluation_and_sentencepiece_give_the_same_ids(tmp_path):
    """Where the pipeline encodes: pretraining shards (`xling.data`, tokenizers over tokenizer.json),
    evaluation/fine-tuning (`AutoTokenizer`, eval_xtreme) and SentencePiece (`vocab stats`, corpus
    token counts): the tie line and a few others give one id sequence in all three."""
    import numpy as np
    import sentencepiece as spm
    from transformers import AutoTokenizer

    from vocab.export import export_hf
    from xling.data import DataConfig, prepare_shards

    (tmp_path / "raw.model").write_bytes(hand_model(TIE_SCORES).SerializeToString())
    vocab = export_hf(tmp_path / "raw.model", tmp_path / "vocab")
    docs = [TIE_LINE, "000 000 а", "а 00 000 0000"]
    (tmp_path / "kk.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    cfg = DataConfig(files={"kaz_Cyrl": str(tmp_path / "kk.txt")}, eval_fraction=0.0)
    shard = prepare_shards(cfg, vocab, tmp_path / "shards", progress=False)["kaz_Cyrl"]
    flat = np.fromfile(shard / "train.bin", dtype=np.uint16).tolist()
    sp = spm.SentencePieceProcessor(model_file=str(vocab / "sentencepiece.bpe.model"))
    tok = AutoTokenizer.from_pretrained(str(vocab))
    eos = 2
    assert flat == [i for d in docs for i in (*sp.encode(d), eos)]
    assert flat == [i for d in docs for i in (*tok(d, add_special_tokens=False)["input_ids"], eos)]


# ------------------------------------------------------------------------------------ full sweep

LANGS = ("kk", "ug", "ru", "en", "tr", "kaz", "uig", "rus", "eng", "tur")
SKIP = ("LICENSE", "README", "SOURCE", "COPYING", ".md", "sha256", ".xml", ".json", "metadata")


def sweep_files(root: Path) -> list[Path]:
    """Every text file of the data root in kk/ug/ru/en/tr: mono/, the Leipzig sentences, parallel/
    (either side of a pair) and Tatoeba (evaluation text: encoded, never trained on)."""
    import re

    files = [p for lang in ("kk", "ug", "ru", "en", "tr") for p in sorted((root / "mono" / lang).rglob("*"))]
    files += [root / "lid/lingua_testdata/sentences" / f"{lang}.txt.xz" for lang in ("kk", "ug", "ru", "en", "tr")]
    code = re.compile(r"(^|[^a-z])(" + "|".join(LANGS) + r")([^a-z]|$)")
    files += [p for p in sorted((root / "parallel").rglob("*")) if code.search(str(p.relative_to(root / "parallel")))]
    files += [p for p in sorted((root / "tatoeba").glob("*")) if code.search(p.name)]
    return [p for p in files if p.is_file() and not any(s in p.name for s in SKIP)]


@pytest.fixture(scope="module")
def sweep_lines(data_root):
    from xling.core.io import read_lines

    lines = [ln for f in sweep_files(data_root) for ln in read_lines(f) if ln.strip()]
    assert len(lines) > 100_000
    return lines


@pytest.fixture(scope="module")
def train_text(real_lines, tmp_path_factory):
    p = tmp_path_factory.mktemp("sweep") / "train.txt"
    p.write_text("\n".join(ln for lines in real_lines.values() for ln in lines) + "\n", encoding="utf-8")
    return p


@pytest.mark.slow  # trains six vocabularies and encodes 378,738 lines with each (see docs/vocab.md)
@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
@pytest.mark.parametrize("vocab_size", [1000, 3000, 8000])
def test_hf_equals_sentencepiece_on_every_line(tmp_path, train_text, sweep_lines, model_type, vocab_size):
    import sentencepiece as spm
    from transformers import AutoTokenizer

    from vocab.export import SCORE_GRID_BITS, export_hf
    from vocab.train import VocabTrainConfig, run_spm_trainer, spm_args

    cfg = VocabTrainConfig(vocab_size=vocab_size, model_type=model_type, byte_fallback=vocab_size == 3000)
    run_spm_trainer(spm_args(cfg, str(train_text), str(tmp_path / "sentencepiece.bpe")))
    export_hf(tmp_path / "sentencepiece.bpe.model", tmp_path)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sentencepiece.bpe.model"))
    tok = AutoTokenizer.from_pretrained(str(tmp_path))
    ref = sp.encode(sweep_lines)
    hf = tok(sweep_lines, add_special_tokens=False)["input_ids"]
    bad = [(line, a, b) for line, a, b in zip(sweep_lines, hf, ref, strict=True) if a != b]
    # SentencePiece adds the whole line's scores in float32: once |sum| reaches 2**16 its spacing
    # exceeds the 2**-8 grid and it rounds again (a 30,167-character gov-web line of 15,854 pieces
    # does, at piece 12,216). HF sums per word and stays exact. Only such lines may differ.
    limit = 2.0 ** (24 - SCORE_GRID_BITS)
    long_sum = [line for line, a, _ in bad if model_type == "unigram"  # BPE sums no scores
                and abs(sum(sp.get_score(i) for i in a if i < len(sp))) >= limit]
    unexplained = [line for line, _, _ in bad if line not in long_sum]
    assert not unexplained, f"{len(unexplained)} of {len(sweep_lines)} lines differ, first: {unexplained[0][:80]!r}"
    assert len(long_sum) <= 2, f"{len(long_sum)} lines past float32's exact range"
