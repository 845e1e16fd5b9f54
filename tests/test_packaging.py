"""Packaging: the license, one version, dependency ranges vs the tested pins, recipes shipped with the package.

The wheel itself (built, installed outside the repository, its CLI run) is checked by `.ci/wheel-check`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import xling
from xling.cli import main
from xling.core.errors import InputError, OutputError
from xling.recipes_cli import copy, included

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
RECIPES = sorted(p.stem for p in (REPO / "recipes").glob("*.yaml"))


def test_license_is_apache_2_spdx():
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"  # an SPDX expression, not the deprecated {text = ...} table
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    debian = Path("/usr/share/common-licenses/Apache-2.0")  # an independent copy of the text, where present
    if debian.is_file():
        assert text == debian.read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_version_has_one_source_and_the_changelog_names_it(capsys):
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "xling.__version__"}
    released = re.findall(r"^## \[(\d+\.\d+\.\d+[^\]]*)\] - \d{4}-\d{2}-\d{2}$",
                          (REPO / "CHANGELOG.md").read_text(encoding="utf-8"), flags=re.M)
    assert released and released[0] == xling.__version__
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"xling {xling.__version__}"


def _pins() -> dict[str, str]:
    pins = {}
    for i, line in enumerate((REPO / "constraints.txt").read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt:{i}: expected NAME==VERSION, got {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def test_dependencies_are_ranges_and_the_constraints_pin_each_inside_its_range():
    pins = _pins()
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    reqs += [Requirement(r) for extra in PYPROJECT["project"]["optional-dependencies"].values() for r in extra]
    for req in reqs:
        assert not any(s.operator in ("==", "===") for s in req.specifier), f"{req}: a range, not an exact pin"
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt pins no version of {req.name}"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} is outside {req}"
    assert pins["torch"] == "2.13.0"  # no local label (+cpu): the pin fits CPU and CUDA builds alike


def test_makefile_installs_with_the_constraints():
    make = (REPO / "Makefile").read_text(encoding="utf-8")
    installs = [ln for ln in make.splitlines() if "pip install" in ln and ("$(TORCH_SPEC)" in ln or "-e '." in ln)]
    assert len(installs) == 2 and all("-c $(CONSTRAINTS)" in ln for ln in installs), installs


def test_recipes_list_and_show_read_the_repository_recipes(capsys):
    assert (REPO / "xling" / "recipes").resolve() == (REPO / "recipes").resolve()
    assert main(["recipes", "list"]) == 0
    listed = [ln.split()[0] for ln in capsys.readouterr().out.splitlines()[: len(RECIPES)]]
    assert listed == RECIPES
    assert main(["recipes", "show", "pretrain-debug"]) == 0
    assert capsys.readouterr().out == (REPO / "recipes" / "pretrain-debug.yaml").read_text(encoding="utf-8")


def test_recipes_copy_writes_the_recipe_and_what_it_includes(tmp_path, capsys):
    demo = (REPO / "recipes" / "kk-ug-demo.yaml").read_text(encoding="utf-8")
    assert "include: [recipes/parallel-kk-ru-apertium.yaml]" in demo  # what the copy must bring along
    assert included(demo) == ["parallel-kk-ru-apertium"]
    dest = tmp_path / "recipes"
    assert main(["recipes", "copy", "kk-ug-demo", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["kk-ug-demo.yaml", "parallel-kk-ru-apertium.yaml"]
    for p in dest.iterdir():
        assert p.read_bytes() == (REPO / "recipes" / p.name).read_bytes()
    assert copy("kk-ug-demo", dest) == [dest / "kk-ug-demo.yaml", dest / "parallel-kk-ru-apertium.yaml"]
    (dest / "kk-ug-demo.yaml").write_text("name: mine\n", encoding="utf-8")
    with pytest.raises(OutputError, match="--force"):
        copy("kk-ug-demo", dest)
    assert (dest / "kk-ug-demo.yaml").read_text(encoding="utf-8") == "name: mine\n"
    copy("recipes/kk-ug-demo.yaml", dest, force=True)
    assert (dest / "kk-ug-demo.yaml").read_text(encoding="utf-8") == demo


def test_unknown_recipe_suggests_the_closest(capsys):
    with pytest.raises(InputError, match="did you mean 'kk-ug-demo'"):
        copy("kk-ug-dmo", Path("unused"))
    assert main(["recipes", "show", "nope-nothing"]) == 2
    assert "no shipped recipe 'nope-nothing'" in capsys.readouterr().err


def _third_party_imports() -> dict[str, list[tuple[str, bool]]]:
    """Top-level third-party module → ('file:line', inside a function?) of each import in the shipped packages."""
    import ast
    import sys

    ours = {"xling", "corpora", "vocab", "eval_xtreme"}
    found: dict[str, list[tuple[str, bool]]] = {}

    def visit(node: ast.AST, path: Path, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                mods = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                mods = [child.module]
            else:
                visit(child, path, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ours:
                    found.setdefault(top, []).append((f"{path.relative_to(REPO)}:{child.lineno}", in_function))

    for pkg in sorted(ours):
        for path in sorted((REPO / pkg).rglob("*.py")):
            visit(ast.parse(path.read_text(encoding="utf-8")), path, False)
    return found


def test_every_imported_library_is_a_declared_dependency():
    """A library our code imports must be declared: in the main dependencies when a module imports it at its top
    (importing the module needs it), else at least in an extra (an optional back-end loaded where it is used).
    Being pulled in by another dependency today (scikit-learn came with seqeval) is not a promise the next release
    keeps."""
    from importlib.metadata import packages_distributions

    main_deps = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    extras = {canonicalize_name(Requirement(r).name)
              for extra in PYPROJECT["project"]["optional-dependencies"].values() for r in extra}
    dists = packages_distributions()
    undeclared = []
    for module, where in sorted(_third_party_imports().items()):
        names = {canonicalize_name(d) for d in dists.get(module, [])}
        if not names:  # an optional back-end not installed here (ray, wandb, …): its import name must be declared
            names = {d for d in main_deps | extras
                     if d == canonicalize_name(module) or d.startswith(canonicalize_name(module) + "-")}
            names = names or {canonicalize_name(module)}
        top_level = [w for w, in_function in where if not in_function]
        if top_level and not names & main_deps:
            undeclared.append(f"{module} ({', '.join(sorted(names))}) imported at module top in "
                              f"{', '.join(top_level[:3])}: needs to be a main dependency")
        elif not names & (main_deps | extras):
            undeclared.append(f"{module} ({', '.join(sorted(names))}) imported at {', '.join(w for w, _ in where[:3])}")
    assert not undeclared, "imported but not declared in pyproject.toml:\n" + "\n".join(undeclared)
