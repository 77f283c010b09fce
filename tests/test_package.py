"""The package's shape: the module map at the top of `mirror/__init__.py` is true (every module is in it, and every
import of a mirror module, at the top of a file or inside a function, is one its map line allows; a module may only
allow modules listed above it, so the map is an order and no import cycle is possible), modules stay small unless
their map line says why, and the wheel ships the package data."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import mirror

PACKAGE = Path(mirror.__file__).parent
SIZE_LIMIT = 300
MAP_LINE = re.compile(r"^\s{4}(?P<name>[a-z_][\w.]*)\s{2,}(?P<job>\S.*?)\s+<\s(?P<deps>.*)$")


def module_map() -> dict[str, list[str]]:
    """{module: mirror modules it may import}, in map order, from the `mirror/__init__.py` docstring."""
    entries: dict[str, list[str]] = {}
    for line in (mirror.__doc__ or "").splitlines():
        match = MAP_LINE.match(line)
        if match:
            deps = match["deps"].strip()
            entries[match["name"]] = [] if deps == "-" else [d.strip() for d in deps.split(",")]
    return entries


def module_name(path: Path) -> str:
    """mirror/evaluation/sts.py -> 'evaluation.sts'; a package's __init__.py -> the package ('evaluation')."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """The mirror modules a file imports anywhere in it, as map names ('encoder', 'evaluation.sts', ...)."""
    known = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py", known)


def imports_in(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The mirror modules that `source` (module `name` of the map) imports, at the top or inside functions."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    package = [p for p in package if p]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name == "mirror" or a.name.startswith("mirror.")]
            targets = [t.removeprefix("mirror").lstrip(".") for t in targets]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                root = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "mirror" or node.module.startswith("mirror.")):
                root = node.module.removeprefix("mirror").lstrip(".")
            else:
                continue
            # `from . import sts` names a module; `from .sts import score_sts` names a symbol of one
            targets = [f"{root}.{a.name}".lstrip(".") if f"{root}.{a.name}".lstrip(".") in known else root for a in node.names]
        else:
            continue
        found.update(t for t in targets if t != name)
    return found


def test_the_map_lists_every_module_once_and_only_modules_above_as_imports():
    entries = module_map()
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")} - {""}
    assert entries, "no module map found in mirror/__init__.py's docstring"
    assert set(entries) == modules, f"not in the map: {sorted(modules - set(entries))}; not a module: {sorted(set(entries) - modules)}"
    order = list(entries)
    for name, deps in entries.items():
        for dep in deps:
            assert dep in entries and order.index(dep) < order.index(name), f"{name} may import {dep}, which is not listed above it"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: module_name(p) or "mirror")
def test_every_import_is_allowed_by_the_map(path):
    entries = module_map()
    name = module_name(path)
    allowed = set(entries.get(name, [])) if name else set(entries)  # mirror/__init__.py is the public facade
    not_allowed = sorted(imported_modules(path) - allowed)
    assert not not_allowed, f"mirror/{path.relative_to(PACKAGE)} imports {not_allowed}, which its map line does not allow"


def test_the_import_reader_sees_every_kind_of_import():
    source = (
        "import torch\nfrom ..errors import DataError\n\ndef f():\n    from ..encoder import encode\n    import mirror.chunking\n"
        "    from .. import masking\n    from ..evaluation.sts import load_stsb\n    from . import lexical\n"
    )
    known = {"errors", "encoder", "chunking", "masking", "evaluation", "evaluation.sts", "evaluation.lexical"}
    found = imports_in(source, "evaluation.cli", False, known)
    assert found == {"errors", "encoder", "chunking", "masking", "evaluation.sts", "evaluation.lexical"}


def test_long_modules_say_why_in_their_map_line():
    jobs = {match["name"]: match["job"] for match in map(MAP_LINE.match, (mirror.__doc__ or "").splitlines()) if match}
    for path in PACKAGE.rglob("*.py"):
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > SIZE_LIMIT:
            assert "lines" in jobs.get(module_name(path), ""), f"mirror/{path.relative_to(PACKAGE)}: {lines} lines and no word on why"


def test_the_card_template_and_facts_are_package_data():
    from importlib import resources

    templates = resources.files("mirror") / "templates"
    assert (templates / "model_card.md").read_text(encoding="utf-8").startswith("---\n")
    assert (templates / "card_facts.json").is_file()


@pytest.mark.slow
def test_the_wheel_holds_the_templates(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w",
         str(tmp_path), str(PACKAGE.parent)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = tmp_path.glob("mirror-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"mirror/templates/model_card.md", "mirror/templates/card_facts.json", "mirror/evaluation/benchmark_sources.json",
            "mirror/atomic.py"} <= names
