"""The ground floor every package may use and that uses none of ours.

Modules: `config` (typed dataclass configs from YAML and `--set`), `io` (JSON, JSON lines, compressed
text, atomic writes), `paths` (the data root), `registry` (named tables with "did you mean"),
`langs` (the one language-code table), `versions` (library versions and commit of a run), `report`
(Markdown tables, PNG charts, self-contained HTML). Nothing here imports `corpora`, `vocab`,
`eval_xtreme` or the rest of `xling`; `tests/test_layering.py` keeps it so. This file stays empty of
imports so that importing one module does not load the others.
"""
