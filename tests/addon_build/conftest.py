"""Fixtures for the Blender build tests (real PyPI bpy); helpers live in addon_build_helpers.py."""

from __future__ import annotations

import pytest
from addon_build_helpers import make_toy_rig

from blender_addon.core.rigspec import RigSpec




@pytest.fixture(scope="session")
def toy_rig() -> RigSpec:
    return make_toy_rig()


@pytest.fixture(scope="session")
def toy_rig_path(tmp_path_factory, toy_rig):
    return toy_rig.save(tmp_path_factory.mktemp("rig") / "toy_rig.npz")
