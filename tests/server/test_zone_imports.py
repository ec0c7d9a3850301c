"""The three zones, checked on the AST of every file (imports anywhere in a module, not just at the top).

1. ``backend/`` never imports bpy.
2. ``blender_addon/core`` and ``blender_addon/ipc`` never import bpy; core uses numpy + stdlib only, ipc stdlib only.
3. ``blender_addon/`` (Blender's Python: numpy only) never imports the backend or its heavy dependencies, and its
   ``__init__.py`` imports bpy only inside functions.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names)
BACKEND_ONLY = {"backend", "torch", "cv2", "mediapipe", "onnxruntime", "onnx", "scipy", "trimesh", "smplx", "anny",
                "smplcodec"}


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(top-level module name, line, at module level?) for every absolute import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name.split(".")[0], node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module.split(".")[0], node.lineno, id(node) in top_level))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            out.append((str(node.args[0].value).split(".")[0], node.lineno, False))
    return out


def py_files(folder: str) -> list[Path]:
    files = sorted((REPO / folder).rglob("*.py"))
    return [p for p in files if "__pycache__" not in p.parts]


@pytest.mark.parametrize("folder", ["backend", "blender_addon/core", "blender_addon/ipc"])
def test_zone_never_imports_bpy(folder):
    files = py_files(folder)
    assert files, f"no files under {folder}"
    bad = [f"{p.relative_to(REPO)}:{line} imports {mod}" for p in files for mod, line, _ in imports(p)
           if mod in ("bpy", "bmesh", "mathutils", "bpy_extras", "addon_utils")]
    assert not bad, bad


def test_zone_core_is_numpy_and_stdlib_only():
    bad = [f"{p.relative_to(REPO)}:{line} imports {mod}" for p in py_files("blender_addon/core")
           for mod, line, _ in imports(p) if mod not in STDLIB and mod not in ("numpy", "blender_addon")]
    assert not bad, bad


def test_zone_ipc_is_stdlib_only():
    bad = [f"{p.relative_to(REPO)}:{line} imports {mod}" for p in py_files("blender_addon/ipc")
           for mod, line, _ in imports(p) if mod not in STDLIB]
    assert not bad, bad


def test_zone_addon_never_imports_backend_dependencies():
    bad = [f"{p.relative_to(REPO)}:{line} imports {mod}" for p in py_files("blender_addon")
           for mod, line, _ in imports(p) if mod in BACKEND_ONLY]
    assert not bad, bad


def test_zone_addon_init_imports_bpy_only_inside_functions():
    bad = [line for mod, line, top in imports(REPO / "blender_addon" / "__init__.py") if mod == "bpy" and top]
    assert not bad


def test_zone_addon_imports_are_relative():
    """Installed as an extension the package is ``bl_ext.<repo>.smplpix_studio``: absolute
    ``blender_addon.`` imports would fail there."""
    bad = [f"{p.relative_to(REPO)}:{line}" for p in py_files("blender_addon") for mod, line, _ in imports(p)
           if mod == "blender_addon"]
    assert not bad, bad


def test_zone_checker_sees_nested_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import bpy\n    from torch import nn\n    importlib.import_module('cv2')\n")
    assert [(m, top) for m, _, top in imports(probe)] == [("bpy", False), ("torch", False), ("cv2", False)]
