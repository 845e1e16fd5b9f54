"""Statistics against hand-computed values on a hand-built SentencePiece model, and on real text."""

from __future__ import annotations

import pytest

from xling.core.io import read_json


def _hand_model(path, byte_fallback: bool):
    """Unigram model: XLM-R specials, optional 256 byte pieces, then ▁ab ▁ a b c (scores fix the segmentation)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    from vocab.export import BYTE, CONTROL, NORMAL, UNKNOWN

    m = pb.ModelProto()
    m.trainer_spec.model_type = 1
    m.trainer_spec.byte_fallback = byte_fallback
    m.trainer_spec.bos_id, m.trainer_spec.pad_id, m.trainer_spec.eos_id, m.trainer_spec.unk_id = 0, 1, 2, 3
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = True
    m.normalizer_spec.remove_extra_whitespaces = True
    m.normalizer_spec.escape_whitespaces = True
    pieces = [("<s>", 0.0, CONTROL), ("<pad>", 0.0, CONTROL), ("</s>", 0.0, CONTROL), ("<unk>", 0.0, UNKNOWN)]
    if byte_fallback:
        pieces += [(f"<0x{b:02X}>", 0.0, BYTE) for b in range(256)]
    pieces += [("▁ab", -1.0, NORMAL), ("▁", -2.0, NORMAL), ("a", -3.0, NORMAL), ("b", -3.0, NORMAL),
               ("c", -3.0, NORMAL)]
    for piece, score, kind in pieces:
        p = m.pieces.add()
        p.piece, p.score, p.type = piece, score, kind
    m.trainer_spec.vocab_size = len(m.pieces)
    path.write_bytes(m.SerializeToString())
    return path


LINES = ["ab ab", "  abc   é "]
# Hand segmentation: "▁ab▁ab" → ▁ab ▁ab (2); "▁abc▁é" → ▁ab c ▁ + é, where é (U+00E9) is unknown:
# two byte pieces <0xC3> <0xA9> with byte fallback, one <unk> without.
# words 2 + 2 = 4; non-space chars 4 + 4 = 8.


def test_stats_match_hand_computed_values_with_byte_fallback(tmp_path):
    import sentencepiece as spm

    from vocab.stats import compute_stats

    model = _hand_model(tmp_path / "sentencepiece.bpe.model", byte_fallback=True)
    sp = spm.SentencePieceProcessor(model_file=str(model))
    assert sp.encode(LINES[1], out_type=str) == ["▁ab", "c", "▁", "<0xC3>", "<0xA9>"]
    s = compute_stats(tmp_path, {"eng_Latn": LINES})["eng_Latn"]
    assert (s.lines, s.words, s.pieces, s.chars, s.unk, s.byte) == (2, 4, 7, 8, 0, 2)
    assert s.fertility == pytest.approx(7 / 4)
    assert s.byte_share == pytest.approx(2 / 7) and s.unk_share == 0.0
    assert s.chars_per_piece == pytest.approx(8 / 7)
    # a, b, c exist as single-character pieces; the other 23 English letters do not.
    assert (s.alphabet_size, s.alphabet_covered) == (26, 3)
    assert s.alphabet_coverage == pytest.approx(3 / 26)
    assert s.missing_letters == list("defghijklmnopqrstuvwxyz")


def test_stats_match_hand_computed_values_with_unk(tmp_path):
    from vocab.stats import compute_stats, write_stats

    _hand_model(tmp_path / "sentencepiece.bpe.model", byte_fallback=False)
    stats = compute_stats(tmp_path, {"eng_Latn": LINES, "xyz_Latn": ["c c c"]})
    s = stats["eng_Latn"]
    assert (s.pieces, s.unk, s.byte) == (6, 1, 0)
    assert s.fertility == pytest.approx(6 / 4) and s.unk_share == pytest.approx(1 / 6)
    assert s.chars_per_piece == pytest.approx(8 / 6)
    # "▁c▁c▁c" → ▁ c ▁ c ▁ c: fertility 2; no alphabet shipped for xyz_Latn.
    x = stats["xyz_Latn"]
    assert x.fertility == pytest.approx(2.0) and x.alphabet_coverage is None
    paths = write_stats(stats, tmp_path / "out")
    data = read_json(paths["json"])
    assert data["eng_Latn"]["pieces"] == 6 and data["eng_Latn"]["missing_letters"][0] == "d"
    md = paths["md"].read_text(encoding="utf-8")
    assert "| eng_Latn | 2 | 4 | 6 | 1.50 | 16.67 | 0.00 | 1.33 | 3/26 |" in md
    assert paths["png"].stat().st_size > 1000


def test_hand_built_model_exports_identically(tmp_path):
    import sentencepiece as spm
    from transformers import AutoTokenizer

    from vocab.export import export_hf

    for bf in (True, False):
        d = tmp_path / str(bf)
        d.mkdir()
        model = _hand_model(d / "sentencepiece.bpe.model", byte_fallback=bf)
        export_hf(model, d)
        tok = AutoTokenizer.from_pretrained(str(d))
        sp = spm.SentencePieceProcessor(model_file=str(model))
        for line in [*LINES, "cab é ab", "ü  a"]:
            assert tok(line, add_special_tokens=False)["input_ids"] == sp.encode(line)


def test_alphabets_shipped():
    from vocab.alphabets import alphabets

    ALPHABETS = alphabets()
    need = {"kaz_Cyrl", "uig_Arab", "rus_Cyrl", "eng_Latn", "tur_Latn", "kir_Cyrl", "tat_Cyrl", "uzb_Latn"}
    assert need <= set(ALPHABETS)
    for lang, letters in ALPHABETS.items():
        assert len(set(letters)) == len(letters), lang
        assert letters == letters.lower(), lang
    assert len(ALPHABETS["kaz_Cyrl"]) == 42 and "і" in ALPHABETS["kaz_Cyrl"] and "i" not in ALPHABETS["kaz_Cyrl"]
    assert len(ALPHABETS["rus_Cyrl"]) == 33 and len(ALPHABETS["tur_Latn"]) == 29


@pytest.mark.slow
def test_stats_on_real_text(trained_vocab, text_files):
    from vocab.stats import stats_for_inputs

    stats = stats_for_inputs(trained_vocab, [f"uig_Arab={text_files['uig_heldout']}",
                                             f"eng_Latn={text_files['eng_Latn']}"], max_lines=500)
    ug, en = stats["uig_Arab"], stats["eng_Latn"]
    assert ug.lines == 500 and 1.0 < ug.fertility < 6.0 and ug.alphabet_coverage == 1.0
    assert en.alphabet_coverage == 1.0 and en.unk_share == 0.0  # byte fallback: no <unk>
    assert ug.chars_per_piece * ug.pieces == pytest.approx(ug.chars)
