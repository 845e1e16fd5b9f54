"""The HF export gives SentencePiece's ids: XLM-R layout, real kk/ug/ru/en/tr lines, byte fallback, BPE."""

from __future__ import annotations

import pytest

# Byte-fallback and whitespace edge cases: emoji, CJK, a Latin letter outside the training scripts,
# tabs, no-break spaces, runs of spaces, leading/trailing spaces, Arabic presentation forms.
EDGE_CASES = [
    "Ақ көңілдің 😀 аты арып", "中文 және қазақша", "ẞtraße Øre", "a\tb  c", "  ортасы  ", "х\u00a0ы",
    "ﻗﺎﻏﺎ خۇشال", "",
]


def _mismatches(tok, sp, lines):
    bad = []
    for line in lines:
        hf = tok(line, add_special_tokens=False)["input_ids"]
        ref = sp.encode(line)
        if hf != ref:
            bad.append((line, tok.convert_ids_to_tokens(hf), [sp.id_to_piece(i) for i in ref]))
    return bad


@pytest.mark.slow  # trains the shared 2,000-piece vocabulary (~20 s)
def test_xlmr_layout_loads_offline(trained_vocab):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(trained_vocab))
    assert [tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id] == [0, 1, 2, 3]
    assert tok.convert_ids_to_tokens([0, 1, 2, 3]) == ["<s>", "<pad>", "</s>", "<unk>"]
    assert tok.mask_token_id == 2000 == len(tok) - 1
    assert tok.cls_token == "<s>" and tok.sep_token == "</s>"
    ids = tok("Ақ көңілдің аты")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    pair = tok("бір", "екі")["input_ids"]
    assert pair.count(2) == 3 and pair[0] == 0  # <s> A </s></s> B </s>
    assert tok.mask_token_id in tok("сөз <mask> сөз")["input_ids"]
    batch = tok(["қысқа", "ұзынырақ сөйлем мұнда"], padding=True)["input_ids"]
    assert batch[0][-1] == tok.pad_token_id


@pytest.mark.slow
def test_hf_ids_equal_sentencepiece_on_real_lines(trained_vocab, real_lines):
    import sentencepiece as spm
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(trained_vocab))
    sp = spm.SentencePieceProcessor(model_file=str(trained_vocab / "sentencepiece.bpe.model"))
    lines = [ln for lang in ("kaz_Cyrl", "uig_Arab", "rus_Cyrl", "eng_Latn", "tur_Latn", "kaz_Cyrl_gov")
             for ln in real_lines[lang][-800:]] + EDGE_CASES
    assert len(lines) > 4000
    assert _mismatches(tok, sp, lines) == []
    n_bytes = sum(sp.is_byte(i) for line in lines for i in sp.encode(line))
    assert n_bytes > 0, "the byte-fallback path was not exercised"
    for line in EDGE_CASES[:4] + real_lines["uig_Arab"][-5:]:
        assert tok.decode(tok(line)["input_ids"], skip_special_tokens=True) == sp.decode(sp.encode(line))


@pytest.mark.parametrize("model_type,byte_fallback", [("bpe", False), ("bpe", True)])
def test_export_matches_for_other_model_kinds(tmp_path, tiny_text, real_lines, model_type, byte_fallback):
    import sentencepiece as spm
    from transformers import AutoTokenizer

    from vocab.export import export_hf
    from vocab.train import VocabTrainConfig, run_spm_trainer, spm_args

    cfg = VocabTrainConfig(vocab_size=700, model_type=model_type, byte_fallback=byte_fallback)
    run_spm_trainer(spm_args(cfg, ",".join(str(p) for p in tiny_text.values()), str(tmp_path / "sentencepiece.bpe")))
    export_hf(tmp_path / "sentencepiece.bpe.model", tmp_path / "hf")
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sentencepiece.bpe.model"))
    lines = [ln for lang in ("kaz_Cyrl", "uig_Arab", "rus_Cyrl", "eng_Latn") for ln in real_lines[lang][-300:]]
    assert _mismatches(tok, sp, lines + EDGE_CASES) == []
    assert tok.mask_token_id == 700


def test_export_rejects_models_without_xlmr_ids(tmp_path, tiny_text):
    import sentencepiece as spm

    from vocab.export import export_hf

    spm.SentencePieceTrainer.train(input=str(tiny_text["eng_Latn"]), model_prefix=str(tmp_path / "m"),
                                   vocab_size=300, minloglevel=2)  # SentencePiece defaults: unk=0, bos=1, eos=2
    with pytest.raises(ValueError, match="bos_id=0 pad_id=1 eos_id=2 unk_id=3"):
        export_hf(tmp_path / "m.model", tmp_path / "hf")
    (tmp_path / "junk.model").write_bytes(b"\x00\xffnot a model")
    with pytest.raises(ValueError, match=r"not a SentencePiece model|no pieces"):
        export_hf(tmp_path / "junk.model", tmp_path / "hf2")


# ------------------------------------------------------------------ transformers 4.x and 5.x configs

PROBE = ["Ақ көңілдің 😀 аты арып", "а а 000", "a\tb  c", "х\u00a0ы", "ﻗﺎﻏﺎ خۇشال"]


def _tiny_export(tmp_path, tiny_text):
    from vocab.export import export_hf
    from vocab.train import VocabTrainConfig, run_spm_trainer, spm_args

    cfg = VocabTrainConfig(vocab_size=400, byte_fallback=True)
    run_spm_trainer(spm_args(cfg, str(tiny_text["kaz_Cyrl"]), str(tmp_path / "sentencepiece.bpe")))
    return export_hf(tmp_path / "sentencepiece.bpe.model", tmp_path / "hf")


def test_config_names_a_class_both_transformers_versions_load(tmp_path, tiny_text):
    import json

    import sentencepiece as spm
    from transformers import AutoTokenizer

    from vocab.export import save_tokenizer

    out = _tiny_export(tmp_path, tiny_text)
    cfg = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    # transformers 4.57 has no TokenizersBackend; PreTrainedTokenizerFast exists in 4 and is 5's alias for it.
    assert cfg["tokenizer_class"] == "PreTrainedTokenizerFast"
    tok = AutoTokenizer.from_pretrained(str(out))
    sp = spm.SentencePieceProcessor(model_file=str(out / "sentencepiece.bpe.model"))
    assert [tok(t, add_special_tokens=False)["input_ids"] for t in PROBE] == sp.encode(PROBE)
    assert set(tok("бір", "екі")) == {"input_ids", "attention_mask"}  # XLM-R's inputs: no token_type_ids
    # A re-save (what `final/` and fine-tuning checkpoints do) keeps the portable name.
    save_tokenizer(tok, tmp_path / "resaved")
    cfg2 = json.loads((tmp_path / "resaved/tokenizer_config.json").read_text(encoding="utf-8"))
    assert cfg2["tokenizer_class"] == "PreTrainedTokenizerFast" and "is_local" not in cfg2


TF4_SCRIPT = """
import json, sys
import transformers
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
lines = json.loads(sys.argv[2])
print(json.dumps({"version": transformers.__version__, "class": type(tok).__name__, "mask": tok.mask_token_id,
                  "ids": [tok(t, add_special_tokens=False)["input_ids"] for t in lines],
                  "pair": tok("бір", "екі")["input_ids"], "keys": sorted(tok("бір"))}))
"""


@pytest.mark.slow  # creates a venv and installs transformers<5 from PyPI (~1 min with a warm pip cache)
def test_exported_folder_loads_in_transformers_4(tmp_path, tiny_text):
    """`XLING_TF4_PYTHON` may name an interpreter that already has transformers 4 (skips the install)."""
    import json
    import os
    import subprocess
    import sys

    import sentencepiece as spm

    out = _tiny_export(tmp_path, tiny_text)
    python = os.environ.get("XLING_TF4_PYTHON")
    if not python:
        venv = tmp_path / "tf4"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        pip = subprocess.run([python, "-m", "pip", "install", "-q", "transformers<5", "tokenizers"],
                             capture_output=True, text=True)
        if pip.returncode:
            pytest.skip(f"could not install transformers<5 from the package index: {pip.stderr[-300:]}")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of ours in that venv
    run = subprocess.run([python, "-c", TF4_SCRIPT, str(out), json.dumps(PROBE)], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["version"].startswith("4."), got["version"]
    sp = spm.SentencePieceProcessor(model_file=str(out / "sentencepiece.bpe.model"))
    assert got["ids"] == sp.encode(PROBE)
    assert got["class"] == "PreTrainedTokenizerFast" and got["mask"] == 400
    assert got["keys"] == ["attention_mask", "input_ids"]
    bir, eki = sp.encode("бір"), sp.encode("екі")
    assert got["pair"] == [0, *bir, 2, 2, *eki, 2]  # XLM-R's pair layout <s> A </s></s> B </s>
