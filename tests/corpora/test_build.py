"""`xling corpora build`: recipe validation, stage skipping, resume, the shipped CPU recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpora.build import CorpusRecipe, build_corpus, load_recipe, resolve_input_specs
from corpora.corpus import find_language_shards, iter_documents
from corpora.decontam import DecontamConfig
from corpora.mix import MixConfig
from xling.core.config import ConfigError
from xling.core.io import read_json, read_lines, write_jsonl_atomic

pytestmark = pytest.mark.usefixtures("index_cache")  # decontamination indexes stay in tmp

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "corpus-kk-ug-cpu.yaml"


def test_recipe_validation(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("name: x\nstages: [dedup, clean]\ninputs: [a]\n")
    with pytest.raises(ConfigError, match="order"):
        load_recipe(bad)
    bad.write_text("name: x\nstages: [dedup, shuffle]\ninputs: [a]\n")
    with pytest.raises(ConfigError, match="unknown stage"):
        load_recipe(bad)
    bad.write_text("name: x\nstages: [dedup]\n")
    with pytest.raises(ConfigError, match="inputs"):
        load_recipe(bad)
    bad.write_text("name: x\nstages: [mix]\ninputs: [a]\nmix: {alpah: 0.3}\n")
    with pytest.raises(ConfigError, match="did you mean 'alpha'"):
        load_recipe(bad)


def test_shipped_recipe_resolves(data_root):
    recipe = load_recipe(RECIPE)
    assert recipe.stages == ["clean", "dedup", "decontaminate", "mix"]
    for spec in resolve_input_specs(recipe.clean.inputs):
        assert Path(spec.split("=", 1)[-1]).is_file(), spec


@pytest.fixture(scope="module")
def corpus(data_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    ug = [ln for ln in read_lines(data_root / "mono/ug/common_voice/sentence-collector.txt.xz") if ln.strip()][:600]
    kk = [ln for ln in read_lines(data_root / "parallel/kk-ru/apertium_kaz_rus_CORPUS/knb-kaz-1010.xz")
          if ln.strip()][:300]
    for lang, lines in (("uig_Arab", ug), ("kaz_Cyrl", kk)):
        write_jsonl_atomic(root / "kept" / lang / "00000.jsonl.gz",
                           [{"id": f"{lang}-{i}", "text": t, "lang": lang, "lang_score": 1.0, "source": "t"}
                            for i, t in enumerate(lines + lines[:20])])  # 20 exact copies each
    heldout = root.parent / "heldout.txt"
    heldout.write_text("\n".join(ug[100:110]) + "\n", encoding="utf-8")
    return root, heldout


def _recipe(corpus, **mix) -> CorpusRecipe:
    root, heldout = corpus
    return CorpusRecipe(name="t", stages=["dedup", "decontaminate", "mix"], inputs=[str(root)],
                        decontaminate=DecontamConfig(against=[str(heldout)], auto=False),
                        mix=MixConfig(**({"alpha": 0.3} | mix)))


def test_build_skips_finished_stages_and_resumes(corpus, tmp_path):
    out = tmp_path / "build"
    final = build_corpus(_recipe(corpus), out, progress=False)
    assert final == out / "mix"
    dd = read_json(out / "dedup" / "stats.json")
    assert dd["languages"]["uig_Arab"]["removed"]["near_duplicate"] >= 20
    dc = read_json(out / "decontam" / "stats.json")
    assert dc["eval_sets"]["heldout.txt"]["docs_hit"] == 10
    texts = {d["text"] for f in find_language_shards(final).values() for d in iter_documents(f)}
    assert not any(ln in texts for ln in read_lines(corpus[1]))
    report = (out / "report.md").read_text()
    assert report.count("| ran |") == 3 and (out / "recipe.yaml").is_file()

    mix_bytes = (out / "mix" / "uig_Arab" / "00000.jsonl.gz").read_bytes()
    build_corpus(_recipe(corpus), out, progress=False)
    assert (out / "report.md").read_text().count("skipped (finished)") == 3

    # A build killed inside the mix stage: only the mix runs again, with the same bytes.
    _mark_unfinished(out / "mix")
    (out / "mix" / ".done" / "uig_Arab.json").unlink()
    build_corpus(_recipe(corpus), out, progress=False)
    assert (out / "report.md").read_text().count("skipped (finished)") == 2
    assert (out / "mix" / "uig_Arab" / "00000.jsonl.gz").read_bytes() == mix_bytes

    # Once a stage runs again, the later ones start over on its output instead of being skipped.
    _mark_unfinished(out / "dedup")
    build_corpus(_recipe(corpus), out, progress=False)
    assert (out / "report.md").read_text().count("| ran |") == 3
    assert (out / "mix" / "uig_Arab" / "00000.jsonl.gz").read_bytes() == mix_bytes

    with pytest.raises(ValueError, match="other settings"):
        build_corpus(_recipe(corpus, alpha=0.7), out, progress=False)


@pytest.mark.slow
def test_full_recipe_with_clean(tmp_path, capsys):
    """The shipped recipe end to end (clean limited to 300 documents per input file)."""
    import argparse

    from corpora.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "corpus"
    args = parser.parse_args(["corpora", "build", str(RECIPE), "--out", str(out), "--set", "clean.limit=300"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "final corpus" in printed
    plan = read_json(out / "mix" / "plan.json")
    assert set(plan["languages"]) == {"kaz_Cyrl", "rus_Cyrl", "uig_Arab", "eng_Latn"}
    assert (out / "decontam" / "report.md").is_file()
    sets = read_json(out / "decontam" / "stats.json")["eval_sets"]
    assert len(sets) >= 12 and all("docs_hit" in s for s in sets.values())
    assert read_json(out / "mix" / "stage.json")["status"] == "finished" and (out / "clean" / "stats.json").is_file()


@pytest.mark.slow
def test_killed_build_resumes_to_identical_output(data_root, tmp_path):
    """SIGKILL a real build process mid-way; the re-run's corpus equals an uninterrupted build's."""
    import signal
    import subprocess
    import sys
    import time

    root = tmp_path / "clean"
    for lang, rel in (("uig_Arab", "mono/ug/common_voice/sentence-collector.txt.xz"),
                      ("kaz_Cyrl", "mono/kk/common_voice/sentence-collector.txt.xz"),
                      ("eng_Latn", "lid/lingua_testdata/sentences/en.txt.xz")):
        lines = [ln for ln in read_lines(data_root / rel) if ln.strip()][:3000]
        write_jsonl_atomic(root / "kept" / lang / "00000.jsonl.gz",
                           [{"id": f"{lang}-{i}", "text": t, "lang": lang} for i, t in enumerate(lines + lines[:300])])
    heldout = tmp_path / "heldout.txt"
    heldout.write_text("\n".join(lines[:50]) + "\n", encoding="utf-8")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"name: kill\nstages: [dedup, decontaminate, mix]\ninputs: [{root}]\n"
                      f"decontaminate: {{auto: false, against: [{heldout}]}}\n"
                      "mix: {alpha: 0.3, max_repeats: 20, seed: 3}\n")
    code = "import sys; from corpora.build import build_corpus, load_recipe; build_corpus(load_recipe(sys.argv[1]), sys.argv[2], progress=False)"
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", code, str(recipe), str(killed)], cwd=REPO)
    deadline = time.time() + 120
    while not (killed / "dedup" / ".done").is_dir() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "mix" / "stage.json").exists() or "running" in (killed / "mix" / "stage.json").read_text()  # it really died before the end
    subprocess.run([sys.executable, "-c", code, str(recipe), str(killed)], cwd=REPO, check=True)
    fresh = build_corpus(load_recipe(recipe), tmp_path / "fresh", progress=False)

    def tree(p: Path) -> dict[str, bytes]:
        return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*.jsonl.gz"))}

    for stage in ("dedup", "decontam", "mix"):
        assert tree(killed / stage) == tree(fresh.parent / stage), stage
    assert not list(killed.rglob(".tmp-*"))


def _mark_unfinished(folder):
    """What a kill before the end leaves: the stage record still says running."""
    rec = folder / "stage.json"
    rec.write_text(rec.read_text().replace('"status": "finished"', '"status": "running"'))
