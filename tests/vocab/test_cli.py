"""`xling vocab` commands end to end on small real inputs (train → stats → extend), plus CLI errors."""

from __future__ import annotations

import argparse

import pytest

from xling.core.io import read_json


def run(argv: list[str]) -> int:
    """Parse with the vocab group only (as `xling` registers it) and run the handler."""
    from vocab.cli import register

    parser = argparse.ArgumentParser(prog="xling")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_train_stats_extend_commands(tmp_path, tiny_text, capsys):
    v = tmp_path / "v"
    specs = [f"{lang}={p}" for lang, p in tiny_text.items() if lang != "uig_Arab"]
    cfg = tmp_path / "vocab.yaml"
    cfg.write_text("vocab_size: 300\nmodel_type: bpe\nalpha: 0.5\n", encoding="utf-8")
    assert run(["vocab", "train", *specs, "--out", str(v), "--config", str(cfg), "--vocab-size", "400",
                "--sample-sentences", "3000", "--seed", "3", "--stats-lines", "200"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {v}/" in out and "bpe vocabulary: 400 pieces + <mask> (id 400)" in out and "| kaz_Cyrl |" in out
    ta = read_json(v / "train_args.json")
    assert ta["config"]["vocab_size"] == 400 and ta["config"]["alpha"] == 0.5  # flag beats YAML
    assert ta["sentencepiece"]["model_type"] == "bpe"

    st = tmp_path / "st"
    assert run(["vocab", "stats", str(v), f"uig_Arab={tiny_text['uig_Arab']}", "--out", str(st),
                "--max-lines", "100"]) == 0
    assert {"stats.json", "stats.md", "stats_fertility.png"} <= {p.name for p in st.iterdir()}
    assert read_json(st / "stats.json")["uig_Arab"]["lines"] == 100

    e = tmp_path / "e"
    assert run(["vocab", "extend", "--base", str(v), "--add", f"uig_Arab={tiny_text['uig_Arab']}",
                "--new-pieces", "50", "--out", str(e), "--stats-lines", "200"]) == 0
    out = capsys.readouterr().out
    assert "added 50 pieces: 401 → 451 HF ids; <mask> 400 → 450" in out and "uig_Arab: fertility" in out


def test_cli_errors_are_clear(tmp_path, tiny_text):
    from xling.core.config import ConfigError

    with pytest.raises(ValueError, match="no inputs given"):
        run(["vocab", "train", "--out", str(tmp_path / "o")])
    with pytest.raises(ConfigError, match="vocab_size must be at least 16"):
        run(["vocab", "train", f"eng_Latn={tiny_text['eng_Latn']}", "--out", str(tmp_path / "o"),
             "--vocab-size", "3"])
    with pytest.raises(FileNotFoundError, match="no SentencePiece model"):
        run(["vocab", "stats", str(tmp_path), f"eng_Latn={tiny_text['eng_Latn']}"])
    with pytest.raises(ValueError, match="extend needs --base"):
        run(["vocab", "extend", "--out", str(tmp_path / "o")])
