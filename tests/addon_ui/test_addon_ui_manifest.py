"""The extension manifest and the installable zip (layout, and a real install into a scratch Blender profile)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
import zipfile

import pytest


def test_addon_ui_manifest_fields(repo_root):
    manifest = tomllib.loads((repo_root / "blender_manifest.toml").read_text())
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    assert manifest["schema_version"] == "1.0.0" and manifest["id"] == "smplpix_studio"
    assert manifest["version"] == project["version"]
    assert manifest["type"] == "add-on" and manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    tagline = manifest["tagline"]
    assert 0 < len(tagline) <= 64 and tagline[-1].isalnum(), tagline
    assert set(manifest["permissions"]) == {"files"}
    reason = manifest["permissions"]["files"]
    assert 0 < len(reason) <= 64 and reason[-1].isalnum()


def test_addon_ui_zip_layout(repo_root, tmp_path):
    r = subprocess.run([sys.executable, str(repo_root / "scripts" / "build_addon_zip.py"), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=120, check=True)
    zpath = tmp_path / "smplpix_studio-0.1.0.zip"
    assert r.stdout.strip() == str(zpath) and zpath.is_file()
    names = zipfile.ZipFile(zpath).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names  # side by side at the root
    for required in ("registration.py", "preferences.py", "ipc/protocol.py", "ipc/client.py", "ipc/backend_process.py",
                     "ipc/session.py", "core/rigspec.py", "core/jobs/__init__.py", "operators/base.py", "ui/panels.py",
                     "builders/scene.py"):
        assert required in names, required
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("blender_addon/")]
    # exactly the add-on package's sources: nothing of the backend, tests or scripts rides along
    package = repo_root / "blender_addon"
    sources = {p.relative_to(package).as_posix() for p in package.rglob("*.py") if "__pycache__" not in p.parts}
    assert {n for n in names if n.endswith(".py")} == sources
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.blender
def test_addon_ui_zip_installs_and_enables_as_extension(repo_root, tmp_path):
    pytest.importorskip("bpy")
    subprocess.run([sys.executable, str(repo_root / "scripts" / "build_addon_zip.py"), "--out", str(tmp_path)],
                   capture_output=True, timeout=120, check=True)
    script = textwrap.dedent(f"""
        import bpy
        r = bpy.ops.extensions.package_install_files(filepath={str(tmp_path / 'smplpix_studio-0.1.0.zip')!r},
                                                     repo="user_default", enable_on_install=True)
        addon = bpy.context.preferences.addons["bl_ext.user_default.smplpix_studio"]
        assert addon.preferences.device == "auto"
        assert bpy.context.scene.smplpix.model == "anny"
        print("INSTALLED", r)
    """)
    env = {"BLENDER_USER_RESOURCES": str(tmp_path / "profile"), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert "INSTALLED {'FINISHED'}" in r.stdout, r.stdout + r.stderr
