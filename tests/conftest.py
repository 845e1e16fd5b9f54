"""Shared fixtures: the real-data root, and thread limits so parallel test workers don't fight."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module's tiny models: on a busy shared 2-core CPU this is several
    times faster than two. Modules opt in with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def data_root():
    """The real data (../shared/data or $XLING_DATA). Integration tests need it; CI has it and sets
    XLING_REQUIRE_DATA=1, so there a missing data root is an error, never a quiet skip. Elsewhere (a
    fresh clone without the data) the integration tests skip and say how to get the data."""
    from xling.core.paths import data_root as find

    if os.environ.get("XLING_REQUIRE_DATA") == "1":
        return find(required=True)
    root = find(required=False)
    if root is None:
        pytest.skip("no data root ($XLING_DATA or ../shared/data): integration test skipped; "
                    "`xling data fetch --mirror DIR|URL` fetches one (README, Data)")
    return root


# Real text for the tiny shared models: pretraining-safe sources only (see mono/README.md).
TINY_SOURCES = {
    "kaz_Cyrl": "mono/kk/common_voice/sentence-collector.txt.xz",
    "uig_Arab": "mono/ug/common_voice/sentence-collector.txt.xz",
    "eng_Latn": "lid/lingua_testdata/sentences/en.txt.xz",
    "rus_Cyrl": "lid/lingua_testdata/sentences/ru.txt.xz",
    "tur_Latn": "lid/lingua_testdata/sentences/tr.txt.xz",
}


@pytest.fixture(scope="session")
def tiny_text(data_root, tmp_path_factory):
    """{lang: path} of ≤1,500-line plain-text samples of real kk/ug/en/ru/tr text."""
    from xling.core.io import read_lines

    d = tmp_path_factory.mktemp("tiny_text")
    out = {}
    for lang, rel in TINY_SOURCES.items():
        lines = [ln for ln in read_lines(data_root / rel) if ln.strip()][:1500]
        p = d / f"{lang}.txt"
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out[lang] = p
    return out


@pytest.fixture(scope="session")
def tiny_spm(tiny_text, tmp_path_factory):
    """A 1,000-piece SentencePiece unigram model with XLM-R special tokens, plus an HF tokenizer folder.

    Returns the folder; it holds `sentencepiece.bpe.model` (XLM-R's file name) and HF tokenizer files,
    so `AutoTokenizer.from_pretrained(folder)` works offline.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2
    from transformers import XLMRobertaTokenizer

    d = tmp_path_factory.mktemp("tiny_spm")
    spm.SentencePieceTrainer.train(
        input=",".join(str(p) for p in tiny_text.values()), model_prefix=str(d / "sentencepiece.bpe"),
        vocab_size=1000, model_type="unigram", character_coverage=0.9995, num_threads=1,
        bos_id=0, pad_id=1, eos_id=2, unk_id=3, user_defined_symbols=[], input_sentence_size=10000,
        shuffle_input_sentence=False, normalization_rule_name="identity", minloglevel=2,
    )
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((d / "sentencepiece.bpe.model").read_bytes())
    # transformers 5 ignores `vocab_file`: the fast tokenizer is built from (piece, score) pairs.
    tok = XLMRobertaTokenizer(vocab=[(p.piece, p.score) for p in proto.pieces] + [("<mask>", 0.0)])
    tok.save_pretrained(str(d))
    return d


@pytest.fixture(scope="session")
def tiny_encoder(tiny_spm, tmp_path_factory):
    """A randomly initialised 2-layer, 64-wide XLMRobertaForMaskedLM saved with its tokenizer."""
    import torch
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForMaskedLM

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(tiny_spm))
    cfg = XLMRobertaConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=128, max_position_embeddings=130, pad_token_id=tok.pad_token_id,
                           bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    d = tmp_path_factory.mktemp("tiny_encoder")
    XLMRobertaForMaskedLM(cfg).save_pretrained(str(d))
    tok.save_pretrained(str(d))
    return d


@pytest.fixture(scope="module")
def index_cache(tmp_path_factory):
    """Keep decontamination's on-disk index cache inside the test session's tmp folder."""
    old = os.environ.get("XLING_CACHE")
    os.environ["XLING_CACHE"] = str(tmp_path_factory.getbasetemp() / "xling_cache")  # shared by modules
    yield
    if old is None:
        os.environ.pop("XLING_CACHE", None)
    else:
        os.environ["XLING_CACHE"] = old


# ------------------------------------------------------------------------------ cluster tests
# `cluster` tests submit real Slurm jobs / start a Ray cluster and take minutes: they run only when
# asked (XLING_CLUSTER_TESTS=1, set by .ci/run after `scripts/local-cluster.sh up` succeeded), so a
# machine that happens to have a Slurm controller does not run them inside `make test`.
def pytest_collection_modifyitems(config, items):
    if os.environ.get("XLING_CLUSTER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="cluster test: runs with XLING_CLUSTER_TESTS=1 after scripts/local-cluster.sh up "
                                   "(.ci/run does both when it can)")
    for item in items:
        if "cluster" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def slurm_partition():
    """The name of an up Slurm partition with an idle/mixed node (`cpu` from scripts/local-cluster.sh);
    skips with the reason when no controller answers."""
    import shutil
    import subprocess

    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        pytest.skip("no Slurm here (sbatch/sinfo not on PATH): run scripts/local-cluster.sh up")
    info = subprocess.run(["sinfo", "-h", "-o", "%P %t"], capture_output=True, text=True, timeout=30, check=False)
    for line in info.stdout.splitlines():
        part, state = line.split()
        if state.rstrip("*~#") in ("idle", "mix", "alloc"):
            return part.rstrip("*")
    pytest.skip(f"no Slurm partition with a usable node (sinfo: {(info.stdout + info.stderr).strip()!r}): "
                "run scripts/local-cluster.sh up")
