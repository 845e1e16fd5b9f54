"""`xling recipes list|show|copy`: the recipes shipped with the package.

The repository keeps its recipes in `recipes/` (README, Makefile and tests name them there);
`xling/recipes` is a link to that folder, so a checkout, an editable install and a wheel (where
setuptools copies the files into `xling/recipes/`) all read them from one place: the `xling`
package's `recipes` resource folder.

A recipe names other recipes by repository path (`include: [recipes/parallel-kk-ru-apertium.yaml]`,
read from the working directory), so `copy` writes those too, into the same folder: copy into
`./recipes` (the default) and the recipe runs from `.` exactly as it does from a checkout.
"""

from __future__ import annotations

import argparse
import difflib
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from xling.core.errors import InputError, OutputError
from xling.core.io import write_text_atomic


def recipes_dir() -> Traversable:
    return files("xling") / "recipes"


def shipped() -> dict[str, Traversable]:
    """name (file name without `.yaml`) → the shipped file, sorted by name."""
    folder = recipes_dir()
    if not folder.is_dir():
        raise InputError(f"no recipes folder in the installed package ({folder}); reinstall xling")
    found = {f.name.removesuffix(".yaml"): f for f in folder.iterdir() if f.name.endswith(".yaml")}
    return dict(sorted(found.items()))


def recipe(name: str) -> Traversable:
    """The shipped recipe `name` (`kk-ug-demo`, `kk-ug-demo.yaml` or `recipes/kk-ug-demo.yaml`)."""
    key = Path(name).name.removesuffix(".yaml")
    table = shipped()
    if key not in table:
        close = difflib.get_close_matches(key, table, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"no shipped recipe {name!r}{hint}; `xling recipes list` shows the {len(table)} recipes")
    return table[key]


def summary(text: str) -> str:
    """A recipe's first comment line: what it is for."""
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def included(text: str) -> list[str]:
    """Shipped recipes that a recipe's `include:` lists name (`recipes/NAME.yaml`), in order, once each."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "include" and isinstance(value, list):
                    found.extend(str(v) for v in value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(text))
    names = [Path(f).name.removesuffix(".yaml") for f in found if Path(f).parent == Path("recipes")]
    return [n for n in dict.fromkeys(names) if n in shipped()]


def copy(name: str, dest: Path, force: bool = False) -> list[Path]:
    """Write recipe `name` and the shipped recipes it includes into folder `dest`; the paths written."""
    main = recipe(name)
    first = main.name.removesuffix(".yaml")
    todo = [first, *(n for n in included(main.read_text(encoding="utf-8")) if n != first)]
    targets = [(dest / f"{n}.yaml", recipe(n).read_text(encoding="utf-8")) for n in todo]
    clash = [str(p) for p, text in targets if p.exists() and p.read_text(encoding="utf-8") != text]
    if clash and not force:
        raise OutputError(f"{', '.join(clash)} already exist(s) with other contents; pass --force to overwrite")
    for path, text in targets:
        write_text_atomic(path, text)
    return [p for p, _ in targets]


# ------------------------------------------------------------------------------------------------- CLI


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recipes", help="list, show or copy the recipes shipped with xling")
    rsub = p.add_subparsers(dest="recipes_command", required=True, metavar="ACTION")
    ls = rsub.add_parser("list", help="every shipped recipe with its one-line summary")
    ls.set_defaults(func=_list)
    show = rsub.add_parser("show", help="print a recipe")
    show.add_argument("name", metavar="NAME", help="e.g. kk-ug-demo")
    show.set_defaults(func=_show)
    cp = rsub.add_parser("copy", help="copy a recipe (and the recipes it includes) into a folder")
    cp.add_argument("name", metavar="NAME", help="e.g. kk-ug-demo")
    cp.add_argument("dest", metavar="DEST", nargs="?", type=Path, default=Path("recipes"),
                    help="folder to write NAME.yaml into (default: ./recipes, where the recipe's "
                         "`include: [recipes/…]` paths point when run from .)")
    cp.add_argument("--force", action="store_true", help="overwrite files that differ")
    cp.set_defaults(func=_copy)


def _list(args: argparse.Namespace) -> int:
    table = shipped()
    width = max(map(len, table), default=0)
    for name, f in table.items():
        print(f"{name:<{width}}  {summary(f.read_text(encoding='utf-8'))}")
    print(f"\n{len(table)} recipes in {recipes_dir()}; `xling recipes copy NAME` writes one to ./recipes")
    return 0


def _show(args: argparse.Namespace) -> int:
    print(recipe(args.name).read_text(encoding="utf-8"), end="")
    return 0


def _copy(args: argparse.Namespace) -> int:
    written = copy(args.name, args.dest, force=args.force)
    for p in written:
        print(f"wrote {p}")
    if len(written) > 1 and args.dest.resolve() != (Path.cwd() / "recipes").resolve():
        print(f"note: {written[0].name} reads {', '.join('recipes/' + p.name for p in written[1:])} from the "
              "working directory; run it from the folder that holds this recipes/ folder")
    print(f"next: xling run {written[0]} --out runs/{written[0].stem} --check")
    return 0
