def test_tiny_encoder_loads_offline(tiny_encoder):
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_encoder))
    model = AutoModelForMaskedLM.from_pretrained(str(tiny_encoder))
    line = "Ақ көңілдің аты арып, тоны тозбас. قاغا خۇشال ھالدا شاخقا قونۇپتۇ."
    enc = tok(line, return_tensors="pt")
    assert enc["input_ids"][0, 0].item() == tok.bos_token_id and tok.mask_token_id is not None
    with torch.no_grad():
        out = model(**enc)
    assert out.logits.shape[-1] == len(tok)


def test_tiny_spm_matches_hf(tiny_spm):
    import sentencepiece as spm
    from transformers import AutoTokenizer

    sp = spm.SentencePieceProcessor(model_file=str(tiny_spm / "sentencepiece.bpe.model"))
    tok = AutoTokenizer.from_pretrained(str(tiny_spm))
    for line in ["Ақ көңілдің аты арып, тоны тозбас.", "چىرايلىقنىڭ چىقىمى تولا."]:
        assert tok.tokenize(line) == sp.encode(line, out_type=str)
