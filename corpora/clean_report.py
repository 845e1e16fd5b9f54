"""The clean stage's per-language statistics: `stats.json` from datatrove's per-task stats, and a
Markdown report with a PNG plot. Later stages can reuse `language_table` and `write_language_plot`.

The clean pipeline's steps count with labels this module understands:
`in_docs/<lang>`, `in_chars/<lang>`, `kept_docs/<lang>`, `kept_chars/<lang>`, `kept_chars_in/<lang>`,
`removed_docs/<lang>/<reason>`, `removed_chars/<lang>/<reason>`, `norm_<fix>`, the reader's
broken-input reasons, `boilerplate_lines_removed`, `duplicate_lines_removed` and
`before_decontam_{docs,chars}/<lang>`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xling.core.config import dump_yaml
from xling.core.io import read_json, write_text_atomic
from xling.core.report import bar_chart, markdown_table


def _total(value: Any) -> float:
    if isinstance(value, dict):
        return value.get("total", 0)
    return value or 0


def read_datatrove_stats(logging_dir: str | Path, skip_steps: tuple[str, ...] = ()) -> dict[str, float]:
    """Sum every counter over all tasks' `stats/*.json` files in a datatrove logging folder."""
    totals: dict[str, float] = defaultdict(float)
    for path in sorted(Path(logging_dir).glob("stats/*.json")):
        for step in read_json(path):
            if any(s in step.get("name", "").lower() for s in skip_steps):
                continue
            for label, value in (step.get("stats") or {}).items():
                totals[label] += _total(value)
    return dict(totals)


def collect_stats(logs: str | Path, decontam: bool = False) -> dict:
    """stats.json content from the clean run's logging folders (`logs/stage*/`)."""
    from corpora.readers import BROKEN_REASONS

    counters: dict[str, float] = defaultdict(float)
    for stage in sorted(Path(logs).glob("stage*")):
        for k, v in read_datatrove_stats(stage, skip_steps=("decontam",)).items():
            counters[k] += v

    langs: dict[str, dict[str, Any]] = {}

    def lang_entry(lang: str) -> dict[str, Any]:
        return langs.setdefault(lang, {"docs_in": 0, "chars_in": 0, "docs_kept": 0, "chars_kept": 0,
                                       "docs_removed": 0, "chars_removed": 0, "chars_trimmed": 0,
                                       "removed_by_reason": {}})

    kept_chars_in: dict[str, float] = defaultdict(float)
    before_decontam: dict[str, list[float]] = defaultdict(lambda: [0, 0])
    reasons: dict[str, dict[str, int]] = {}
    for label, value in counters.items():
        parts = label.split("/")
        value = int(value)
        if parts[0] in ("in_docs", "in_chars") and len(parts) == 2:
            lang_entry(parts[1])["docs_in" if parts[0] == "in_docs" else "chars_in"] += value
        elif parts[0] in ("kept_docs", "kept_chars") and len(parts) == 2:
            lang_entry(parts[1])["docs_kept" if parts[0] == "kept_docs" else "chars_kept"] += value
        elif parts[0] == "kept_chars_in" and len(parts) == 2:
            kept_chars_in[parts[1]] += value
        elif parts[0] in ("before_decontam_docs", "before_decontam_chars") and len(parts) == 2:
            before_decontam[parts[1]][0 if parts[0].endswith("docs") else 1] += value
        elif parts[0] in ("removed_docs", "removed_chars") and len(parts) == 3:
            _add_removed(lang_entry(parts[1]), reasons, parts[2], parts[0] == "removed_docs", value)
    if decontam:
        for lang, (docs, chars) in before_decontam.items():
            e = lang_entry(lang)
            _add_removed(e, reasons, "contaminated", True, docs - e["docs_kept"])
            _add_removed(e, reasons, "contaminated", False, int(chars - kept_chars_in.get(lang, 0)))
    for lang, e in langs.items():
        e["chars_trimmed"] = int(kept_chars_in.get(lang, 0) - e["chars_kept"])
    totals = {k: sum(e[k] for e in langs.values()) for k in
              ("docs_in", "chars_in", "docs_kept", "chars_kept", "docs_removed", "chars_removed", "chars_trimmed")}
    return {
        "totals": totals,
        "languages": dict(sorted(langs.items(), key=lambda kv: -kv[1]["docs_in"])),
        "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1]["docs"])),
        "normalisation": {k.removeprefix("norm_"): int(v) for k, v in sorted(counters.items())
                          if k.startswith("norm_")},
        "broken_input": {r: int(counters.get(r, 0)) for r in BROKEN_REASONS if counters.get(r)},
        "lines_removed": {"boilerplate": int(counters.get("boilerplate_lines_removed", 0)),
                          "duplicate": int(counters.get("duplicate_lines_removed", 0))},
        "lid_relabelled_by_orthography": int(counters.get("lid_relabelled_by_orthography", 0)),
    }


def _add_removed(entry: dict, reasons: dict, reason: str, is_docs: bool, value: int) -> None:
    key = "docs" if is_docs else "chars"
    entry["docs_removed" if is_docs else "chars_removed"] += value
    r = entry["removed_by_reason"].setdefault(reason, {"docs": 0, "chars": 0})
    r[key] += value
    reasons.setdefault(reason, {"docs": 0, "chars": 0})[key] += value


def language_table(languages: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for lang, e in languages.items():
        share = 100.0 * e["docs_kept"] / e["docs_in"] if e["docs_in"] else 0.0
        top = max(e["removed_by_reason"].items(), key=lambda kv: kv[1]["docs"])[0] if e["removed_by_reason"] else ""
        rows.append([lang, e["docs_in"], e["docs_kept"], share, e["chars_in"], e["chars_kept"], top])
    return markdown_table(["lang", "docs in", "docs kept", "% kept", "chars in", "chars kept", "main removal reason"],
                          rows, digits=1)


def write_language_plot(path: str | Path, languages: Mapping[str, Mapping[str, Any]], title: str,
                        max_langs: int = 20) -> Path:
    top = list(languages.items())[:max_langs]
    return bar_chart(path, {"in": {k: e["docs_in"] for k, e in top}, "kept": {k: e["docs_kept"] for k, e in top}},
                     title=title, ylabel="documents", xlabel="language")


def write_clean_report(out: str | Path, stats: Mapping[str, Any], config: Any = None) -> Path:
    """`OUT/report.md` (+ `OUT/report.png`) for a clean run."""
    out = Path(out)
    png = write_language_plot(out / "report.png", stats["languages"], "Documents per language: in vs kept")
    t = stats["totals"]
    parts = [
        "# Corpus cleaning report", "",
        f"Output: `{out}`. Kept documents: `kept/<lang>/*.jsonl.gz`; removed ones (with `reason`): `removed/`.",
        "",
        f"**{t['docs_kept']:,} of {t['docs_in']:,} documents kept** "
        f"({t['chars_kept']:,} of {t['chars_in']:,} characters; {t['chars_trimmed']:,} characters of boilerplate "
        "and repeated lines trimmed from kept documents).", "",
        "## Per language", "", language_table(stats["languages"]), "",
        f"![documents per language]({png.name})", "",
        "## Removal reasons", "",
        markdown_table(["reason", "docs", "chars"], [[r, v["docs"], v["chars"]] for r, v in stats["reasons"].items()]),
        "",
        "## Normalisation fixes (characters or documents touched)", "",
        markdown_table(["fix", "count"], [[k, v] for k, v in stats["normalisation"].items()]), "",
        "## Lines removed inside kept documents", "",
        markdown_table(["kind", "lines"], [[k, v] for k, v in stats["lines_removed"].items()]), "",
        "## Broken input (skipped, see logs for file and line)", "",
        markdown_table(["reason", "count"], [[k, v] for k, v in stats["broken_input"].items()])
        if stats["broken_input"] else "None.", "",
        f"Documents relabelled kaz/uig by Arabic-script orthography: {stats['lid_relabelled_by_orthography']:,}.",
        "",
    ]
    if config is not None:
        parts += ["## Settings", "", "```yaml", dump_yaml(config).rstrip(), "```", ""]
    return write_text_atomic(out / "report.md", "\n".join(parts))


def summary_lines(out: str | Path, stats: Mapping[str, Any]) -> list[str]:
    t = stats["totals"]
    lines = [f"cleaned corpus: {Path(out) / 'kept'}  (report: {Path(out) / 'report.md'}, stats: "
             f"{Path(out) / 'stats.json'})",
             f"kept {t['docs_kept']:,} / {t['docs_in']:,} documents, {t['chars_kept']:,} / {t['chars_in']:,} chars"]
    for lang, e in list(stats["languages"].items())[:15]:
        lines.append(f"  {lang:10s} kept {e['docs_kept']:>9,} / {e['docs_in']:>9,} docs")
    if stats["broken_input"]:
        lines.append("broken input skipped: " + ", ".join(f"{k}={v}" for k, v in stats["broken_input"].items()))
    return lines
