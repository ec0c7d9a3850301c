"""Fixtures for the retarget tests: the Anny rig, a walking motion, and armatures built in real bpy."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def anny_rig(anny_rigspec_path):
    from blender_addon.core.rigspec import RigSpec

    return RigSpec.load(anny_rigspec_path)


@pytest.fixture(scope="session")
def walk_motion(anny_rig):
    """60 frames of the built-in walk-and-wave motion, without camera (the feet slide: it walks in place)."""
    import dataclasses

    from backend.demo.sample_motion import sample_motion

    return dataclasses.replace(sample_motion(anny_rig.joint_names, frames=60), camera=None)
