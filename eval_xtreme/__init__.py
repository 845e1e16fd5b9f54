"""eval_xtreme: zero-shot XTREME evaluation, a Uyghur/Kazakh suite, and leaderboard submissions.

Modules (imports stay light here; torch/transformers load inside the functions that need them):

- `tasks`: the `TASKS` registry (nine XTREME tasks + our suite) and data-file resolution;
- `loaders`: readers for every official/raw format (`load_split`);
- `finetune`: English fine-tuning with the task head, prediction, resumable runs;
- `retrieval`: mean-pooled sentence embeddings or token MaxSim, nearest-neighbour search (CSLS optional),
  BUCC margin mining;
- `runner`: `EvalConfig` and `run_eval` (results.json, predictions, report);
- `metrics`, `submission`, `fetch`: official metrics and aggregate, leaderboard files, data download;
- `cli`: the `xling eval` command group (`run`, `ls`, `submit`, `validate`).
"""

# Registers the Tatoeba-Challenge retrieval task, the Turkish-source UD-POS task and their loader
# (light: no torch), so every entry point sees the same task registry.
from . import transfer_tasks  # noqa: F401
