"""`xling run`'s overall progress line: stage i/n, elapsed, ETA from the timed stages of each kind."""

from __future__ import annotations

from types import SimpleNamespace

from xling.run import Progress, stage_keys


def _plan(stages=("corpus", "vocab", "pretrain", "eval")):
    def arm(steps):
        return SimpleNamespace(train=SimpleNamespace(max_steps=steps, global_batch_size=16), data=SimpleNamespace(max_len=128))

    return SimpleNamespace(recipe=SimpleNamespace(stages=list(stages)), arms={"a": arm(100), "b": arm(50)},
                           evals={"a": object(), "b": object()})


def _state(history, stages=None):
    return SimpleNamespace(data={"stages": stages or {}, "history": history})


def test_stage_keys_follow_the_recipe():
    assert stage_keys(_plan()) == ["corpus", "vocab", "pretrain/a", "pretrain/b", "eval/a", "eval/b"]
    assert stage_keys(_plan(("corpus", "vocab"))) == ["corpus", "vocab"]


def test_eta_from_the_stages_that_ran():
    history = [{"stage": "corpus", "status": "ran", "seconds": 60.0},
               {"stage": "vocab", "status": "ran", "seconds": 30.0},
               {"stage": "pretrain/a", "status": "paused", "seconds": 100.0},  # paused half-way, then resumed:
               {"stage": "pretrain/a", "status": "ran", "seconds": 100.0}]     # 200 s for 100×16×128 tokens
    progress = Progress(_plan(), _state(history))
    # pretrain/b: 50×16×128 tokens at 200 s per 100×16×128 → 100 s; evaluation has no timing yet
    assert progress.eta(3) == (100.0, ["eval"])
    line = progress.line("pretrain/b")
    assert line.startswith("[stage 4/6 pretrain/b] elapsed 0:00:0")
    assert line.endswith("ETA 0:01:40 + eval (not yet timed)")
    history.append({"stage": "pretrain/b", "status": "ran", "seconds": 90.0})
    history.append({"stage": "eval/a", "status": "ran", "seconds": 1234.0})
    assert progress.eta(5) == (1234.0, [])  # the other model runs the same tasks
    assert progress.line("eval/b").endswith("ETA 0:20:34")


def test_finished_stages_count_as_nothing_and_nothing_timed_says_so():
    stages = {"corpus": {"status": "skipped (finished)"}, "vocab": {"status": "ran"}}
    progress = Progress(_plan(), _state([], stages))
    assert progress.eta(0) == (0.0, ["pretrain", "eval"])
    assert progress.line("corpus").endswith("ETA after the first pretrain, eval stage has run")
    # a finished stage that runs again (changed settings, --force) counts with its kind's rate
    progress = Progress(_plan(), _state([{"stage": "vocab", "status": "ran", "seconds": 30.0}], stages))
    assert progress.eta(1) == (0.0, ["pretrain", "eval"])
    assert progress.eta(1, running=True) == (30.0, ["pretrain", "eval"])


def test_a_skipped_stage_is_described_by_its_own_records(tmp_path):
    from xling.core.io import read_json
    from xling.run import RunState

    def rec(commit, seconds, day):
        return {"status": "finished", "commit": commit, "seconds": seconds, "time": f"2026-12-0{day}T10:00:00Z"}

    state = RunState(tmp_path, ["xling", "run", "r.yaml"])
    state.record("eval/x", "ran", 9.0)  # this invocation's own entry, replaced below by the records' account
    # an evaluation whose three tasks were finished by two commits (one redone later), 1.5 + 2.0 + 0.5 s
    state.record("eval/x", "skipped (finished)", 0.1, [rec("bbb", 2.0, 2), rec("aaa", 1.5, 1), rec("bbb", 0.5, 3)])
    # records written before they carried commit and time: nothing known, not this invocation's commit
    state.record("vocab", "skipped (finished)", 0.1, [{"status": "finished", "time": "2026-12-01T10:00:00Z"}])
    stages = read_json(tmp_path / "run.json")["stages"]
    assert stages["eval/x"] == {"status": "skipped (finished)", "seconds": 0.1, "seconds_when_run": 4.0,
                                "commit_when_run": "bbb", "commits_when_run": ["aaa", "bbb"]}
    assert (stages["vocab"]["seconds_when_run"], stages["vocab"]["commit_when_run"]) == (None, "")
