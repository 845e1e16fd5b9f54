"""Browser-free check of a run report (RUN/report.md and report.html), used by the tests of `xling run`."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path


def check_report(run_dir: str | Path) -> list[str]:
    """Browser-free check of RUN/report.html and report.md: the HTML parses with balanced tags,
    every image is embedded PNG data (and exists on disk for the Markdown), and every table row
    holds at least one number. Returns the problems found (empty = good)."""
    run_dir = Path(run_dir)
    problems: list[str] = []
    md_path, html_path = run_dir / "report.md", run_dir / "report.html"
    for p in (md_path, html_path):
        if not p.is_file():
            problems.append(f"{p}: missing")
    if problems:
        return problems
    for src in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md_path.read_text(encoding="utf-8")):
        if not (run_dir / src).is_file():
            problems.append(f"report.md: image {src} does not exist")

    void = {"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "source", "wbr"}
    # A number, optionally with its 95% interval: "45.2", "45.2 [40.1, 50.3]", "+1.2 [−0.8, +3.1], not significant".
    number = re.compile(r"^[−+-]?\d[\d,]*(\.\d+)?%?\*?(\[[−+-]?\d[\d.]*,[−+-]?\d[\d.]*\](,(not)?significant)?)?$")

    class Checker(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.stack: list[str] = []
            self.images = 0
            self.rows = 0
            self.in_body_row = False
            self.in_thead = False
            self.cells: list[str] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in void:
                self.stack.append(tag)
            if tag == "img":
                self.images += 1
                src = dict(attrs).get("src") or ""
                if not src.startswith("data:image/png;base64,"):
                    problems.append(f"report.html: image {src[:80]!r} is not embedded PNG data")
                elif not base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG"):
                    problems.append("report.html: an embedded image is not a PNG")
            elif tag == "thead":
                self.in_thead = True
            elif tag == "tr" and not self.in_thead:
                self.in_body_row, self.cells = True, []
            elif tag in ("td", "th") and self.in_body_row:
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if tag in void:
                return
            if not self.stack or self.stack[-1] != tag:
                problems.append(f"report.html: line {self.getpos()[0]}: </{tag}> closes "
                                f"<{self.stack[-1] if self.stack else 'nothing'}>")
                if tag in self.stack:
                    while self.stack and self.stack.pop() != tag:
                        pass
            else:
                self.stack.pop()
            if tag == "thead":
                self.in_thead = False
            elif tag in ("td", "th") and self.cell is not None:
                self.cells.append("".join(self.cell).strip())
                self.cell = None
            elif tag == "tr" and self.in_body_row:
                self.in_body_row = False
                self.rows += 1
                if not any(number.match(c.replace(" ", "")) for c in self.cells[1:]):
                    problems.append(f"report.html: table row without a number: {' | '.join(self.cells)[:160]}")

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    checker = Checker()
    checker.feed(html_path.read_text(encoding="utf-8"))
    checker.close()
    if checker.stack:
        problems.append(f"report.html: unclosed tags at the end: {checker.stack}")
    if checker.images == 0:
        problems.append("report.html: no figures")
    if checker.rows == 0:
        problems.append("report.html: no tables")
    return problems
