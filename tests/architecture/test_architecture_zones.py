"""The three zones and the import graph, checked on the AST of every file (imports anywhere in a module, lazy ones
inside functions included; relative imports resolved to the module they name).

1. ``backend/`` never imports bpy, nor the add-on's bpy zone (only ``blender_addon.core`` / ``blender_addon.ipc``).
2. ``blender_addon/core`` and ``blender_addon/ipc`` never import bpy; core uses numpy + stdlib + core only, ipc
   stdlib + ipc + core only.
3. ``blender_addon/`` (Blender's Python: numpy only) never imports the backend or its heavy dependencies, its
   ``__init__.py`` imports bpy only inside functions, and its own imports are relative (extension installs).
4. No import cycle between the project's modules, even through lazy imports.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names)
BACKEND_ONLY = {"backend", "torch", "cv2", "mediapipe", "onnxruntime", "onnx", "scipy", "trimesh", "smplx", "anny",
                "smplcodec"}
BPY = ("bpy", "bmesh", "mathutils", "bpy_extras", "addon_utils")
PACKAGES = ("backend", "blender_addon")


@dataclasses.dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name (relative imports resolved)
    line: int
    top_level: bool  # at module level (not inside a function or class body)
    relative: bool
    names: tuple[str, ...] = ()  # ``from module import names``

    @property
    def root(self) -> str:
        return self.module.split(".")[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and getattr(test, "id", getattr(test, "attr", "")) == "TYPE_CHECKING"


def imports(path: Path) -> list[Import]:
    """Every import of the file, relative ones resolved against its package."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    try:
        package = module_name(path).split(".")
        if path.name != "__init__.py":
            package = package[:-1]
    except ValueError:  # a file outside the repository (the checker's own probe)
        package = []
    type_only = {id(n) for block in ast.walk(tree) if _is_type_checking_block(block) for stmt in block.body
                 for n in ast.walk(stmt)}  # `if TYPE_CHECKING:` imports never run
    out = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        top = id(node) in top_level
        if isinstance(node, ast.Import):
            out += [Import(alias.name, node.lineno, top, False) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append(Import(module, node.lineno, top, bool(node.level), tuple(a.name for a in node.names)))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            out.append(Import(str(node.args[0].value), node.lineno, False, False))
    return out


def py_files(folder: str) -> list[Path]:
    files = sorted((REPO / folder).rglob("*.py"))
    return [p for p in files if "__pycache__" not in p.parts]


def _bad(folder: str, rule) -> list[str]:
    return [f"{p.relative_to(REPO)}:{i.line} imports {i.module}" for p in py_files(folder) for i in imports(p)
            if rule(i)]


@pytest.mark.parametrize("folder", ["backend", "blender_addon/core", "blender_addon/ipc"])
def test_zone_never_imports_bpy(folder):
    assert py_files(folder), f"no files under {folder}"
    bad = _bad(folder, lambda i: i.root in BPY)
    assert not bad, bad


def test_zone_backend_uses_only_the_bpy_free_addon_packages():
    bad = _bad("backend", lambda i: i.root == "blender_addon" and not i.module.startswith(
        ("blender_addon.core", "blender_addon.ipc")))
    assert not bad, bad


def test_zone_core_is_numpy_and_stdlib_only():
    bad = _bad("blender_addon/core", lambda i: not (i.root in STDLIB or i.root == "numpy"
                                                   or i.module.startswith("blender_addon.core")))
    assert not bad, bad


def test_zone_ipc_is_stdlib_only():
    bad = _bad("blender_addon/ipc", lambda i: not (i.root in STDLIB or i.module.startswith(
        ("blender_addon.ipc", "blender_addon.core"))))
    assert not bad, bad


def test_zone_addon_never_imports_backend_dependencies():
    bad = _bad("blender_addon", lambda i: i.root in BACKEND_ONLY)
    assert not bad, bad


def test_zone_addon_init_imports_bpy_only_inside_functions():
    bad = [i.line for i in imports(REPO / "blender_addon" / "__init__.py") if i.root == "bpy" and i.top_level]
    assert not bad


def test_zone_addon_imports_are_relative():
    """Installed as an extension the package is ``bl_ext.<repo>.smplpix_studio``: absolute
    ``blender_addon.`` imports would fail there."""
    bad = _bad("blender_addon", lambda i: i.root == "blender_addon" and not i.relative)
    assert not bad, bad


def import_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (``from pkg import mod`` counts as importing ``pkg.mod``
    when that is a module; a package's ``__init__`` counts too, as Python runs it)."""
    modules = {module_name(p): p for pkg in PACKAGES for p in py_files(pkg)}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for i in imports(path):
            if i.root not in PACKAGES:
                continue
            targets = [f"{i.module}.{n}" for n in i.names if f"{i.module}.{n}" in modules] or [i.module]
            for target in targets:
                while target and target not in modules:  # an attribute of a module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_package_init_edge(a: str, b: str) -> bool:
    """A package ``__init__`` importing its own submodules (``from . import x``) is how packages work, not a cycle
    of design; edges from a submodule up to its package are kept."""
    return b.startswith(a + ".")


@pytest.mark.parametrize("package", [
    "blender_addon",
    "backend",
])
def test_no_import_cycles_even_through_lazy_imports(package):
    graph = {a: {b for b in deps if not _is_package_init_edge(a, b)} for a, deps in import_graph().items()}
    found = [c for c in cycles(graph) if any(m.split(".")[0] == package for m in c)]
    assert not found, found


def test_checker_sees_nested_and_relative_imports(tmp_path):
    probe = REPO / "blender_addon" / "builders" / "common.py"
    found = {i.module for i in imports(probe)}
    assert "bpy" in found and "blender_addon.builders.common" not in found
    scene = {i.module: i for i in imports(REPO / "blender_addon" / "builders" / "scene.py")}
    assert scene["blender_addon.core.motion"].relative and scene["blender_addon"].names == ("body_record",)
    other = tmp_path / "probe.py"
    other.write_text("def f():\n    import bpy\n    from torch import nn\n    importlib.import_module('cv2')\n")
    assert [(i.root, i.top_level) for i in imports(other)] == [("bpy", False), ("torch", False), ("cv2", False)]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_one_list_of_model_gender_and_phenotype_names():
    """Model, gender and phenotype names are spelled once (``blender_addon/core/names.py``); the add-on's
    properties and the backend take them from there."""
    from backend.bodymodels import MODEL_NAMES
    from blender_addon.core import names

    assert MODEL_NAMES is names.MODEL_NAMES and set(names.BODY_MODELS) <= set(MODEL_NAMES)
    text = (REPO / "blender_addon" / "properties.py").read_text()
    declared = {line.split(":")[0].strip()[len("pheno_"):] for line in text.splitlines()
                if line.strip().startswith("pheno_")}
    assert declared == set(names.ANNY_PHENOTYPES)
    spelled = [f"{p.relative_to(REPO)}" for folder in ("blender_addon/ui", "blender_addon/operators")
               for p in py_files(folder) if '"proportions"' in p.read_text() or "'proportions'" in p.read_text()]
    assert not spelled, spelled
