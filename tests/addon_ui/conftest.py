"""Fixtures for add-on UI tests: the real bpy module, the add-on enabled as an add-on, a real backend."""

from __future__ import annotations

import os
import sys

import pytest

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402  (ships with bpy)

ADDON = "blender_addon"


@pytest.fixture()
def addon(tmp_path):
    """An empty scene with the add-on enabled; its backend (if any) is stopped and the add-on disabled after."""
    os.environ["SMPLPIX_TEST_JOBS"] = "1"  # the backend inherits it: count/fail test jobs
    bpy.ops.wm.read_factory_settings(use_empty=True)
    mod = addon_utils.enable(ADDON, default_set=True, handle_error=None)
    assert mod is not None, "the add-on did not enable"
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.backend_python = sys.executable
    prefs.job_folder = str(tmp_path / "jobs")
    prefs.device = "cpu"
    yield mod
    addon_utils.disable(ADDON, default_set=True, handle_error=None)


@pytest.fixture()
def session(addon):
    """The add-on's session with a running backend started by the Start Backend operator."""
    from blender_addon.ipc.session import SESSION

    assert bpy.ops.smplpix.backend_start() == {"FINISHED"}
    assert SESSION.running
    return SESSION
