"""The Body panel's Fast Playback switch mutes pose-corrective shape keys without losing their animation."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")


def _tiny_rig():
    from blender_addon.core.rigspec import RigSpec

    rng = np.random.default_rng(0)
    J, V = 3, 12
    rest = np.array([[0, 0, 0], [0, 0.5, 0], [0, 1.0, 0]], float)
    template = rest[np.arange(V) % J] + rng.normal(0, 0.05, (V, 3))
    w = np.eye(J)[np.arange(V) % J].astype(np.float32)
    P = 9 * (J - 1)
    return RigSpec(model="smplx", joint_names=("root", "a", "b"), parents=np.array([-1, 0, 1], np.int32),
                   rest_joints=rest, rest_orient=np.tile(np.eye(3), (J, 1, 1)), bone_tails=rest + [0, 0.2, 0],
                   template=template, faces=np.array([[0, 1, 2], [3, 4, 5]], np.int32), skin_weights=w,
                   pose_names=tuple(f"Pose{i:03d}" for i in range(P)),
                   pose_dirs=rng.normal(0, 0.01, (P, V, 3)).astype(np.float32))


def test_addon_ui_fast_playback_mutes_only_correctives(addon):
    from blender_addon.builders.scene import build_body

    res = build_body(_tiny_rig(), name="Tiny")
    mesh = bpy.data.objects[res.mesh]
    blocks = mesh.data.shape_keys.key_blocks
    pose = [kb for kb in blocks if kb.name.startswith("Pose")]
    assert len(pose) == 18 and not any(kb.mute for kb in blocks)
    mesh.smplpix.fast_playback = True
    assert all(kb.mute for kb in pose) and not blocks[0].mute
    mesh.smplpix.fast_playback = False
    assert not any(kb.mute for kb in blocks)
