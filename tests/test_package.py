"""The package's shape: the module map (which module may import which) holds and has no cycle, modules stay
small unless their docstring says why, and the wheel ships the card template and the facts file."""

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mirror"

# module -> the mirror modules it may import. Lower layers first; `evaluation` is the subpackage as one node.
MODULE_MAP = {
    "errors": set(),
    "atomic": set(),
    "masking": set(),
    "losses": set(),
    "distributed": set(),
    "chunking": set(),
    "benchmarking": set(),
    "summary": {"errors"},
    "st_format": {"atomic", "errors"},
    "hub": {"atomic", "errors", "st_format"},
    "data": {"errors", "hub"},
    "collator": {"masking"},
    "encoder": {"chunking", "errors", "hub", "st_format"},
    "config": {"errors", "hub", "st_format"},
    "card": {"errors", "hub", "st_format"},
    "share": {"card", "errors", "hub"},
    "curves": {"atomic"},
    "trainer": {"atomic", "distributed", "encoder", "errors", "losses", "st_format"},
    "modeling": {"chunking", "encoder", "hub", "st_format"},  # the deprecated alias of encoder & co
    "evaluation": {"atomic", "config", "data", "encoder", "errors", "modeling"},
    "recipe": {"atomic", "card", "collator", "config", "curves", "data", "encoder", "errors", "evaluation", "share",
               "trainer"},
    "seeds": {"atomic", "card", "errors", "recipe", "summary"},
}
SIZE_LIMIT = 300


def _node(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> set[str]:
    """The mirror modules (map nodes) a file imports, at any depth of the file."""
    depth = len(path.relative_to(PACKAGE).parts)  # 1: mirror/x.py, 2: mirror/evaluation/x.py
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == depth:  # relative to the package root: from .x / from ..x
                names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            elif node.level == 0 and (node.module or "").startswith("mirror."):
                names = [node.module.split(".")[1]]
            else:
                continue
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("mirror."))
    return found


def test_every_import_follows_the_module_map():
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue  # the public API imports everything
        node = _node(path)
        edges.setdefault(node, set()).update(_imports(path) - {node})
    assert set(edges) == set(MODULE_MAP), "a module was added or removed: put it in MODULE_MAP"
    wrong = {node: sorted(edges[node] - MODULE_MAP[node]) for node in edges if edges[node] - MODULE_MAP[node]}
    assert not wrong, f"imports outside the module map: {wrong}"


def test_the_module_map_has_no_cycle():
    done: set[str] = set()
    remaining = dict(MODULE_MAP)
    while remaining:
        ready = [node for node, deps in remaining.items() if deps <= done]
        assert ready, f"import cycle among {sorted(remaining)}"
        done.update(ready)
        for node in ready:
            del remaining[node]


def test_long_modules_say_why_in_their_docstring():
    for path in PACKAGE.glob("*.py"):  # the core library (mirror/evaluation/ has its own owners)
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > SIZE_LIMIT:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            assert "lines" in doc.lower(), f"{path.relative_to(PACKAGE)}: {lines} lines and no word on why"


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
    assert {"mirror/templates/model_card.md", "mirror/templates/card_facts.json", "mirror/atomic.py"} <= names
