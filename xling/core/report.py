"""Report building shared by every stage: Markdown tables, matplotlib PNG charts, and a self-contained
HTML page from Markdown (images embedded as base64 so the file opens offline)."""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def fmt(v: Any, digits: int = 2) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 2) -> str:
    head = "| " + " | ".join(headers) + " |"
    sep = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"
    body = ["| " + " | ".join(fmt(c, digits) for c in row) + " |" for row in rows]
    return "\n".join([head, sep, *body])


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    """Every figure the same way: tight layout, 110 dpi PNG, parent folders made, figure closed."""
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    _plt().close(fig)
    return out


def bar_chart(path: str | os.PathLike, series: Mapping[str, Mapping[str, float]], title: str,
              ylabel: str, xlabel: str = "") -> Path:
    """Grouped bars: `series` maps a series name (e.g. "before") to {category: value}."""
    plt = _plt()
    cats: list[str] = []
    for s in series.values():
        cats.extend(c for c in s if c not in cats)
    n = max(len(series), 1)
    width = 0.8 / n
    x = np.arange(len(cats))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(cats) * n + 2), 4))
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + i * width - 0.4 + width / 2, [values.get(c, 0.0) for c in cats], width, label=name)
    ax.set_xticks(x, cats, rotation=45 if len(cats) > 8 else 0, ha="right" if len(cats) > 8 else "center")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    if len(series) > 1:
        ax.legend()
    return _save(fig, path)


def line_chart(path: str | os.PathLike, series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
               title: str, xlabel: str, ylabel: str) -> Path:
    """Curves: `series` maps a name to (xs, ys)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.92em}
th,td{border:1px solid #ccc;padding:4px 8px}th{background:#f3f3f3}td{text-align:right}
td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}
pre,code{background:#f6f8fa;font-size:0.9em}pre{padding:0.8em;overflow-x:auto}
h1,h2,h3{border-bottom:1px solid #eee;padding-bottom:0.2em}
"""



def markdown_to_html(md_text: str, base_dir: Path, title: str) -> str:
    """Render Markdown (tables, fenced code) to one HTML page with every local image inlined."""
    import markdown

    body = markdown.markdown(md_text, extensions=["tables", "fenced_code"])

    def inline(match: re.Match) -> str:
        src = html.unescape(match.group(2))
        path = (base_dir / src).resolve()
        if src.startswith(("data:", "http://", "https://")) or not path.is_file():
            return match.group(0)
        mime = "image/png" if path.suffix.lower() == ".png" else "image/svg+xml"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'{match.group(1)}"data:{mime};base64,{data}"'

    body = re.sub(r'(<img[^>]*?src=)"([^"]+)"', inline, body)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")


def heatmap(path: str | os.PathLike, matrix: Sequence[Sequence[float]], rows: Sequence[str],
            cols: Sequence[str], title: str, xlabel: str = "", ylabel: str = "") -> Path:
    """A labelled matrix (e.g. a confusion matrix: gold rows × predicted columns), counts written in cells."""
    plt = _plt()
    m = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(cols) + 2.5), max(4.0, 0.45 * len(rows) + 2)))
    ax.imshow(m / np.maximum(m.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j]:
                ax.text(j, i, f"{m[i, j]:g}", ha="center", va="center", fontsize=7)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return _save(fig, path)
