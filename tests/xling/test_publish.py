"""`xling publish`: the card parses with huggingface_hub and says what the run folder holds, the folder
loads with AutoModelForMaskedLM/AutoTokenizer, and the upload calls upload_folder (no network)."""

from __future__ import annotations

import json

import pytest

from xling.core.errors import InputError

# A results.json in `xling eval run`'s format (hand-written numbers; the card must carry these).
RESULTS = {
    "model": "RUN/pretrain/mlm-tlm/final",
    "tasks": {"tatoeba": {"kk": {"accuracy": 41.5, "reverse_accuracy": 40.0}, "ug": {"accuracy": 22.0}},
              "udpos": {"kk": {"f1": 55.25, "accuracy": 60.0}}},
    "intervals": {
        "method": "95% percentile bootstrap (hand-written test data)",
        "tasks": {
            "tatoeba": {"languages": {"kk": {"score": 41.5, "ci95": [37.25, 45.75], "n": 575},
                                      "ug": {"score": 22.0, "ci95": [19.5, 24.5], "n": 1000}},
                        "mean": {"score": 31.75, "ci95": [29.0, 34.5], "languages": ["kk", "ug"]}},
            "udpos": {"languages": {"kk": {"score": 55.25, "ci95": [53.0, 57.5], "n": 1047}}},
        },
    },
}
CORPUS_REPORT = """# Corpus build `t`

## Documents per language after each stage (mix: documents written, with repeats)

| lang | clean | mix |
|---|---:|---:|
| kaz_Cyrl | 478 | 341 |
| uig_Arab | 149 | 281 |
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_text):
    """RUN/ as `xling run` leaves it, with one arm (mlm+tlm over a parallel source) and its evaluation."""
    import shutil

    import torch
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForMaskedLM

    from vocab.export import export_hf, save_tokenizer
    from vocab.train import VocabTrainConfig, run_spm_trainer, spm_args
    from xling.core.config import from_dict, save_config
    from xling.pretrain import PretrainConfig

    run = tmp_path_factory.mktemp("publish") / "RUN"
    vocab = run / "vocab"
    vocab.mkdir(parents=True)
    cfg = VocabTrainConfig(vocab_size=300)
    text = ",".join(str(tiny_text[k]) for k in ("kaz_Cyrl", "uig_Arab"))
    run_spm_trainer(spm_args(cfg, text, str(vocab / "sentencepiece.bpe")))
    export_hf(vocab / "sentencepiece.bpe.model", vocab)
    tok = AutoTokenizer.from_pretrained(str(vocab))
    torch.manual_seed(0)
    final = run / "pretrain" / "mlm-tlm" / "final"
    model_cfg = XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=66, pad_token_id=1)
    XLMRobertaForMaskedLM(model_cfg).save_pretrained(str(final))
    save_tokenizer(tok, final)
    shutil.copy2(vocab / "sentencepiece.bpe.model", final)
    arm_cfg = from_dict(PretrainConfig, {
        "tokenizer": str(vocab), "objectives": [{"name": "mlm"}, {"name": "tlm"}],
        "parallel": {"sources": [{"src": "$XLING_DATA/parallel/xwmt/en-kk/en-kk.kk.xz", "src_lang": "kaz_Cyrl",
                                  "tgt": "$XLING_DATA/parallel/xwmt/en-kk/en-kk.en.xz", "tgt_lang": "eng_Latn"}]},
        "data": {"corpus": [str(run / "corpus" / "decontam")]}}, "test")
    save_config(arm_cfg, run / "pretrain" / "mlm-tlm" / "config.yaml")
    (run / "corpus").mkdir()
    (run / "corpus" / "report.md").write_text(CORPUS_REPORT, encoding="utf-8")
    (run / "recipe.yaml").write_text(
        "name: t\ncorpus:\n  clean:\n    languages: [kaz_Cyrl, uig_Arab]\n    inputs:\n"
        "    - $XLING_DATA/mono/kk/common_voice/sentence-collector.txt.xz\n"
        "    - $XLING_DATA/mono/ug/common_voice/sentence-collector.txt.xz\n"
        "    - /somewhere/else/own.txt\n", encoding="utf-8")
    (run / "run.json").write_text(json.dumps({"argv": ["xling", "run", "recipes/t.yaml", "--out", str(run)]}))
    (run / "eval" / "mlm-tlm").mkdir(parents=True)
    (run / "eval" / "mlm-tlm" / "results.json").write_text(json.dumps(RESULTS), encoding="utf-8")
    return run


def test_dry_run_writes_a_card_the_hub_parser_reads(run_dir, tmp_path):
    from huggingface_hub import ModelCard, metadata_load

    from xling.cli import main

    out = tmp_path / "hub"
    assert main(["publish", str(run_dir), "--repo-id", "xling-test/t-mlm-tlm", "--dry-run", "--out", str(out)]) == 0
    assert {"README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "sentencepiece.bpe.model"} <= {p.name for p in out.iterdir()}
    meta = metadata_load(out / "README.md")
    assert meta["language"] == ["kk", "ug"]
    assert meta["license"] == "other" and meta["pipeline_tag"] == "fill-mask" and meta["library_name"] == "transformers"
    assert {"xling", "mlm", "tlm"} <= set(meta["tags"])
    assert meta["datasets"] == ["common-voice/common-voice", "turkic-interlingua/til-mt"]
    card = ModelCard.load(out / "README.md")
    got = {(r.task_name, r.dataset_config): (r.task_type, r.metric_type, r.metric_value, r.metric_name)
           for r in card.data.eval_results}
    assert got == {
        ("tatoeba", "kk"): ("sentence-similarity", "accuracy", 41.5, "accuracy (95% CI 37.25–45.75)"),
        ("tatoeba", "ug"): ("sentence-similarity", "accuracy", 22.0, "accuracy (95% CI 19.50–24.50)"),
        ("tatoeba", "mean"): ("sentence-similarity", "accuracy", 31.75, "accuracy (95% CI 29.00–34.50)"),
        ("udpos", "kk"): ("token-classification", "f1", 55.25, "F1 (95% CI 53.00–57.50)"),
    }
    text = (out / "README.md").read_text(encoding="utf-8")
    assert "| kaz_Cyrl | 478 | 341 |" in text  # the corpus table
    assert "xling run recipes/t.yaml --out" in text and "xling pretrain " in text  # the exact commands
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if "MANIFEST §" in line}
    assert "CC0-1.0" in rows["Common Voice Sentence Collector sentences (MANIFEST §10)"]
    assert "MIT" in rows["X-WMT Turkic test sets (MANIFEST §6)"]
    assert "/somewhere/else/own.txt" in text and "unknown (not in the data root's MANIFEST" in text


def test_published_folder_loads_with_auto_classes(run_dir, tmp_path):
    import sentencepiece as spm
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from xling.publish import build_folder

    out = build_folder(run_dir / "pretrain" / "mlm-tlm" / "final", "xling-test/t", tmp_path / "hub")
    assert json.loads((out / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForMaskedLM.from_pretrained(str(out)).eval()
    sp = spm.SentencePieceProcessor(model_file=str(out / "sentencepiece.bpe.model"))
    line = "Ақ көңілдің аты арып"
    enc = tok(line, return_tensors="pt")
    assert enc["input_ids"][0].tolist() == [0, *sp.encode(line), 2]
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (1, enc["input_ids"].shape[1], len(tok))


def test_upload_hands_the_folder_to_upload_folder(run_dir, tmp_path, monkeypatch):
    import huggingface_hub

    from xling.cli import main

    calls = []
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo",
                        lambda self, repo_id, **kw: calls.append(("create_repo", repo_id, kw)))

    def fake_upload(self, **kw):
        calls.append(("upload_folder", kw["repo_id"], kw))
        assert (tmp_path / "hub" / "README.md").is_file()  # the folder is complete when it goes up
        return "https://hub.invalid/commit/1"

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", fake_upload)
    assert main(["publish", str(run_dir), "--repo-id", "org/name", "--private", "--out", str(tmp_path / "hub")]) == 0
    assert [c[0] for c in calls] == ["create_repo", "upload_folder"]
    assert calls[0][1] == "org/name" and calls[0][2]["private"] is True and calls[0][2]["exist_ok"] is True
    assert calls[1][2]["folder_path"] == str(tmp_path / "hub") and calls[1][2]["repo_type"] == "model"


def test_bad_targets_and_repo_ids_are_refused(run_dir, tmp_path):
    import shutil

    from xling.publish import build_folder

    with pytest.raises(InputError, match="expected ORG/NAME"):
        build_folder(run_dir, "just-a-name", tmp_path / "a")
    with pytest.raises(InputError, match="neither a model folder"):
        build_folder(tmp_path, "org/name", tmp_path / "b")
    two = tmp_path / "RUN2"
    shutil.copytree(run_dir, two)
    shutil.copytree(two / "pretrain" / "mlm-tlm", two / "pretrain" / "mlm")
    with pytest.raises(InputError, match="arms mlm, mlm-tlm; choose one with --arm"):
        build_folder(two, "org/name", tmp_path / "c")
    with pytest.raises(InputError, match="--arm xx: not a finished arm"):
        build_folder(two, "org/name", tmp_path / "d", arm="xx")


def test_run_hook_writes_the_card_into_final(run_dir):
    from huggingface_hub import ModelCard

    from xling.publish import write_run_cards

    (card,) = write_run_cards(run_dir, ["mlm-tlm", "never-ran"])
    assert card == run_dir / "pretrain" / "mlm-tlm" / "final" / "README.md"
    loaded = ModelCard.load(card)
    assert len(loaded.data.eval_results) == 4 and loaded.data.model_name == "t-mlm-tlm"
    assert f"AutoModelForMaskedLM.from_pretrained({str(card.parent)!r})" in loaded.text  # not published yet


def test_readme_trainer_snippet(run_dir, tmp_path, monkeypatch):
    """The README's "Using xling with the Hugging Face ecosystem" block, run as written on a tiny arm."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using xling with the Hugging Face ecosystem", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "Trainer(" in code and 'model_dir = "runs/demo/pretrain/mlm/final"' in code
    code = code.replace('"runs/demo/pretrain/mlm/final"', repr(str(run_dir / "pretrain" / "mlm-tlm" / "final")))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["model"].num_labels == 2
    assert (tmp_path / "ft-out").is_dir()
