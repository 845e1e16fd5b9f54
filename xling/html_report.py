"""Self-contained HTML from Markdown: images are embedded as base64 so the file opens offline."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

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
