"""eval_xtreme: zero-shot XTREME evaluation, a Uyghur/Kazakh suite, and leaderboard submissions."""
