"""Fixtures for the generate add-on tests: the add-on enabled in real bpy with a real backend (as tests/addon_ui)."""

from __future__ import annotations

import os
import sys

import pytest


@pytest.fixture()
def session(tmp_path):
    """An empty scene, the add-on enabled, its backend started by the Start Backend operator; stopped after."""
    bpy = pytest.importorskip("bpy")
    import addon_utils

    from blender_addon.ipc.session import SESSION

    os.environ["SMPLPIX_TEST_JOBS"] = "1"
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert addon_utils.enable("blender_addon", default_set=True, handle_error=None) is not None
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.backend_python = sys.executable
    prefs.job_folder = str(tmp_path / "jobs")
    prefs.device = "cpu"
    assert bpy.ops.smplpix.backend_start() == {"FINISHED"}
    yield SESSION
    addon_utils.disable("blender_addon", default_set=True, handle_error=None)
