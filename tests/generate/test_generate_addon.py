"""Random Humans, Re-roll and Interpolate in real bpy with a real backend subprocess, headless; exports of a random
human re-imported by Blender's FBX and glTF importers and by trimesh."""

from __future__ import annotations

import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from bpy_helpers import evaluated_world_verts  # noqa: E402

from blender_addon.core.motion import Motion  # noqa: E402
from blender_addon.core.rigspec import RigSpec  # noqa: E402
from blender_addon.core.rotations import rotvec_to_matrix  # noqa: E402

RECORD = "smplpix_generate_record"


def _mesh(arm):
    return next(c for c in arm.children if c.type == "MESH")




def _select(*names, active):
    for ob in bpy.context.view_layer.objects:
        ob.select_set(ob.name in names)
    bpy.context.view_layer.objects.active = bpy.data.objects[active]


@pytest.mark.slow
def test_generate_operators_headless(session, capsys, tmp_path):
    g = bpy.context.window_manager.smplpix_generate
    g.count, g.seed, g.frames, g.spacing = 2, 3, 6, 1.5
    assert bpy.ops.smplpix.random_humans() == {"FINISHED"}
    assert "SMPLPIX_PROGRESS" in capsys.readouterr().out
    arms = sorted((o for o in bpy.data.objects if o.get(RECORD)), key=lambda o: o.name)
    assert [a.name for a in arms] == ["Human000", "Human001"]
    assert [a.location.x for a in arms] == pytest.approx([0.0, 1.5])
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end) == (1, 6)

    # The Blender body moves as the RigSpec says (numpy skinning of the generated rig and motion), frame 4.
    a0 = arms[0]
    rig, motion = RigSpec.load(a0.smplpix.rig_path), Motion.load(a0.smplpix.motion_path)
    scene.frame_set(4)
    want, _ = rig.skin(rotvec_to_matrix(motion.rotvec[3:4]), motion.transl[3:4],
                       expression=motion.expression[3] if motion.expression is not None else None)
    got = evaluated_world_verts(_mesh(a0))
    assert np.abs(got - want[0]).max() < 2e-3
    scene.frame_set(1)

    # Re-roll the pose of Human000: same name, place and body; a new record; Human001 untouched.
    before = json.loads(open(a0[RECORD]).read())
    untouched = evaluated_world_verts(_mesh(arms[1]))
    _select("Human000", active="Human000")
    assert bpy.ops.smplpix.reroll_human(factor="pose", seed=11) == {"FINISHED"}
    a0 = bpy.data.objects["Human000"]
    after = json.loads(open(a0[RECORD]).read())
    assert after["factors"]["pose"] != before["factors"]["pose"]
    assert after["factors"]["shape"] == before["factors"]["shape"]
    assert a0.location.x == pytest.approx(0.0) and len([o for o in bpy.data.objects if o.get(RECORD)]) == 2
    np.testing.assert_allclose(evaluated_world_verts(_mesh(bpy.data.objects["Human001"])), untouched, atol=1e-6)

    # Interpolate Human000 -> Human001 (active): morph shape keys animated from 0 to 1.
    _select("Human000", "Human001", active="Human001")
    assert bpy.ops.smplpix.interpolate_humans(frames=10) == {"FINISHED"}
    morph = bpy.data.objects["Human000_to_Human001"]
    keys = _mesh(morph).data.shape_keys.key_blocks
    scene.frame_set(1)
    assert [keys[f"morph_{k}"].value for k in range(1, 5)] == pytest.approx([0, 0, 0, 0], abs=1e-6)
    scene.frame_set(10)
    assert [keys[f"morph_{k}"].value for k in range(1, 5)] == pytest.approx([1, 1, 1, 1], abs=1e-6)
    m_rig, m_motion = RigSpec.load(morph.smplpix.rig_path), Motion.load(morph.smplpix.motion_path)
    want, _ = m_rig.skin(rotvec_to_matrix(m_motion.rotvec[9:10]), m_motion.transl[9:10],
                         expression=m_motion.expression[9])
    assert morph.location.x == pytest.approx(3.0)  # right of the pair
    got = evaluated_world_verts(_mesh(morph)) - np.array(morph.location)
    assert np.abs(got - want[0]).max() < 2e-3  # the bones follow the morph exactly
    b_rig = RigSpec.load(bpy.data.objects["Human001"].smplpix.rig_path)
    rest_b, _ = m_rig.rest_state(np.zeros(len(m_rig.shape_names)), m_motion.expression[9] * (np.arange(
        len(m_rig.expr_names)) >= len(m_rig.expr_names) - 4))
    np.testing.assert_allclose(rest_b, b_rig.template, atol=1e-4)  # the morph ends at B

    # Exports of a random human load clean.
    _select("Human001", active="Human001")
    glb, fbx = tmp_path / "human.glb", tmp_path / "human.fbx"
    assert bpy.ops.smplpix.export_body(filepath=str(glb), preset="glb_generic") == {"FINISHED"}
    assert bpy.ops.smplpix.export_body(filepath=str(fbx), preset="fbx_generic") == {"FINISHED"}
    import trimesh

    loaded = trimesh.load(glb)
    assert sum(len(m.faces) for m in loaded.geometry.values()) == len(b_rig.faces)
    for path, importer in ((glb, bpy.ops.import_scene.gltf), (fbx, bpy.ops.import_scene.fbx)):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        importer(filepath=str(path))
        arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
        mesh = next(o for o in bpy.data.objects if o.type == "MESH")
        assert len(arm.data.bones) == b_rig.num_joints
        assert sum(len(p.vertices) - 2 for p in mesh.data.polygons) == len(b_rig.faces)
        co = evaluated_world_verts(mesh)
        assert np.all(np.isfinite(co)) and 0.8 < np.ptp(co[:, 2]) / np.ptp(b_rig.template[:, 2]) < 1.05


def test_generate_buttons_explain_why_they_are_grey(tmp_path):
    import addon_utils

    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert addon_utils.enable("blender_addon", default_set=True, handle_error=None) is not None
    try:
        with pytest.raises(RuntimeError, match="Start the backend first"):
            bpy.ops.smplpix.random_humans()
        with pytest.raises(RuntimeError, match="Start the backend first"):
            bpy.ops.smplpix.reroll_human(factor="pose")
        g = bpy.context.window_manager.smplpix_generate
        assert (g.count, g.age_min, g.age_max) == (4, 18.0, 70.0)
        from blender_addon.core.jobs import ParamError
        from blender_addon.core.jobs.generate import GenerateRandomParams

        with pytest.raises(ParamError, match="impossible"):  # what the operator checks before submitting
            GenerateRandomParams(age_min=60.0, age_max=20.0).check()
    finally:
        addon_utils.disable("blender_addon", default_set=True, handle_error=None)
    assert not hasattr(bpy.types.WindowManager, "smplpix_generate")
