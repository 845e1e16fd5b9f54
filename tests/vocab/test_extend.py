"""Extension keeps every old id, lowers Uyghur fertility on held-out text, and resizes a model's embeddings."""

from __future__ import annotations

import pytest

from xling.core.io import read_json


@pytest.fixture(scope="module")
def extended_vocab(trained_vocab, text_files, tmp_path_factory):
    from vocab.extend import VocabExtendConfig, extend_vocab

    out = tmp_path_factory.mktemp("ext") / "v2k_ug"
    extend_vocab(VocabExtendConfig(base=str(trained_vocab), add=[f"uig_Arab={text_files['uig_add']}"],
                                   new_pieces=600, out=str(out), stats_lines=500))
    return out


@pytest.mark.slow
def test_every_old_id_is_kept(trained_vocab, extended_vocab):
    import sentencepiece as spm
    from transformers import AutoTokenizer

    base, new = (AutoTokenizer.from_pretrained(str(d)) for d in (trained_vocab, extended_vocab))
    bv, nv = base.get_vocab(), new.get_vocab()
    assert len(new) == len(base) + 600
    for piece, i in bv.items():
        if piece != "<mask>":
            assert nv[piece] == i, piece
    assert new.mask_token_id == len(new) - 1 == 2600 and nv["<mask>"] == 2600 and base.mask_token_id == 2000
    sp_base = spm.SentencePieceProcessor(model_file=str(trained_vocab / "sentencepiece.bpe.model"))
    sp_new = spm.SentencePieceProcessor(model_file=str(extended_vocab / "sentencepiece.bpe.model"))
    assert all(sp_new.id_to_piece(i) == sp_base.id_to_piece(i) for i in range(sp_base.get_piece_size()))
    mapping = read_json(extended_vocab / "mapping.json")
    old_to_new = mapping["old_to_new"]
    assert len(old_to_new) == len(base)
    assert all(old_to_new[i] == i for i in range(2000)) and old_to_new[2000] == 2600
    assert mapping["moved"] == {"<mask>": [2000, 2600]}
    assert [a["id"] for a in mapping["added"]] == list(range(2000, 2600))
    assert all(nv[a["piece"]] == a["id"] for a in mapping["added"])


@pytest.mark.slow
def test_extension_lowers_uyghur_fertility_on_heldout_text(trained_vocab, extended_vocab, text_files, real_lines):
    import sentencepiece as spm
    from transformers import AutoTokenizer

    from vocab.stats import stats_for_inputs

    specs = [f"uig_Arab={text_files['uig_heldout']}"]
    before = stats_for_inputs(trained_vocab, specs)["uig_Arab"]
    after = stats_for_inputs(extended_vocab, specs)["uig_Arab"]
    assert after.fertility < before.fertility * 0.95, (before.fertility, after.fertility)
    assert after.chars_per_piece > before.chars_per_piece
    # The extended export still reproduces SentencePiece exactly, on Uyghur and on the other languages.
    tok = AutoTokenizer.from_pretrained(str(extended_vocab))
    sp = spm.SentencePieceProcessor(model_file=str(extended_vocab / "sentencepiece.bpe.model"))
    lines = real_lines["uig_Arab"][-1000:] + real_lines["kaz_Cyrl"][-300:] + real_lines["eng_Latn"][-300:]
    assert all(tok(x, add_special_tokens=False)["input_ids"] == sp.encode(x) for x in lines)
    change = read_json(extended_vocab / "fertility_change.json")
    assert change["uig_Arab"]["extended"] < change["uig_Arab"]["base"]
    assert (extended_vocab / "report.md").is_file() and (extended_vocab / "stats_fertility.png").is_file()


def test_extend_rejects_a_base_without_xlmr_ids(tmp_path, tiny_text):
    import sentencepiece as spm

    from vocab.extend import VocabExtendConfig, extend_vocab

    spm.SentencePieceTrainer.train(input=str(tiny_text["eng_Latn"]), model_prefix=str(tmp_path / "sentencepiece.bpe"),
                                   vocab_size=300, minloglevel=2)
    with pytest.raises(ValueError, match="expected XLM-R's"):
        extend_vocab(VocabExtendConfig(base=str(tmp_path), add=[f"uig_Arab={tiny_text['uig_Arab']}"],
                                       new_pieces=10, out=str(tmp_path / "o")))
    with pytest.raises(FileNotFoundError, match="no SentencePiece model"):
        extend_vocab(VocabExtendConfig(base=str(tmp_path / "nope"), add=[f"uig_Arab={tiny_text['uig_Arab']}"],
                                       new_pieces=10, out=str(tmp_path / "o")))


def test_select_and_append_pieces_by_score():
    from sentencepiece import sentencepiece_model_pb2 as pb

    from vocab.extend import extended_proto, id_mapping, select_new_pieces

    def proto(pieces, model_type=1):
        m = pb.ModelProto()
        m.trainer_spec.model_type = model_type
        for piece, score in pieces:
            p = m.pieces.add()
            p.piece, p.score, p.type = piece, score, 1
        return m

    base = proto([("▁a", -1.0), ("b", -2.0)])
    added = proto([("▁a", -0.5), ("x", -3.0), ("▁xy", -1.5), ("<mask>", -0.1), ("y", -2.0)])
    assert select_new_pieces(base, added, 2) == [("▁xy", -1.5), ("y", -2.0)]
    ext = extended_proto(base, select_new_pieces(base, added, 10))
    assert [p.piece for p in ext.pieces] == ["▁a", "b", "▁xy", "y", "x"]
    assert [p.score for p in ext.pieces][2:] == [-1.5, -2.0, -3.0]  # unigram: learned log-probs kept
    bpe = extended_proto(proto([("▁a", 0.0), ("b", -1.0)], 2), [("▁xy", -1.5), ("y", -2.0)])
    assert [p.score for p in bpe.pieces][2:] == [-2.0, -3.0]  # BPE: ranked after every base merge
    assert id_mapping(4, 6) == [0, 1, 2, 3, 6]


def test_resize_embeddings_keeps_old_rows_and_averages_new_ones(tiny_spm, tiny_encoder, tiny_text, tmp_path):
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from vocab.embeddings import read_mapping, resize_embeddings
    from vocab.extend import VocabExtendConfig, extend_vocab

    ext = extend_vocab(VocabExtendConfig(base=str(tiny_spm), add=[f"uig_Arab={tiny_text['uig_Arab']}"],
                                         new_pieces=100, out=str(tmp_path / "ext"), stats_lines=200))
    out = resize_embeddings(tiny_encoder, tiny_spm, ext, tmp_path / "model")
    old = AutoModelForMaskedLM.from_pretrained(str(tiny_encoder))
    new = AutoModelForMaskedLM.from_pretrained(str(out))
    base_tok, new_tok = AutoTokenizer.from_pretrained(str(tiny_spm)), AutoTokenizer.from_pretrained(str(out))
    assert new.config.vocab_size == len(new_tok) == len(base_tok) + 100
    e_old, e_new = old.get_input_embeddings().weight, new.get_input_embeddings().weight
    b_old, b_new = old.lm_head.bias, new.lm_head.bias
    mapping = read_mapping(ext)
    for old_id, new_id in enumerate(mapping):
        assert torch.equal(e_new[new_id], e_old[old_id]) and b_new[new_id] == b_old[old_id]
    assert mapping[base_tok.mask_token_id] == new_tok.mask_token_id == len(new_tok) - 1
    assert torch.equal(e_new[new_tok.mask_token_id], e_old[base_tok.mask_token_id])
    # A new piece's row is the mean of the rows of the base pieces it decomposes into.
    model = base_tok.backend_tokenizer.model
    for new_id in range(len(base_tok) - 1, len(new_tok) - 1):
        piece = new_tok.convert_ids_to_tokens(new_id)
        ids = [t.id for t in model.tokenize(piece) if t.id != base_tok.unk_token_id]
        want = e_old[ids].mean(0) if ids else e_old[: len(base_tok)].mean(0)
        assert torch.allclose(e_new[new_id], want, atol=1e-6), piece
    assert new.get_output_embeddings().weight.data_ptr() == e_new.data_ptr()  # still tied
    enc = new_tok("قاغا خۇشال ھالدا شاخقا قونۇپتۇ.", return_tensors="pt")
    assert int(enc["input_ids"].max()) >= len(base_tok) - 1  # uses an added piece
    with torch.no_grad():
        assert new(**enc).logits.shape[-1] == len(new_tok)
    info = read_json(out / "resize_embeddings.json")
    assert info["new"] == 100 and info["mask"] == [base_tok.mask_token_id, new_tok.mask_token_id]


@pytest.mark.slow
def test_resize_rejects_a_tokenizer_that_is_not_an_extension(tiny_spm, tiny_encoder, trained_vocab, tmp_path):
    from vocab.embeddings import resize_embeddings

    with pytest.raises(ValueError, match="not an extension of the base vocabulary"):
        resize_embeddings(tiny_encoder, tiny_spm, trained_vocab, tmp_path / "m")
    assert not (tmp_path / "m").exists()
