"""Bone maps and retarget maths without Blender: detection and guessing of target maps, bad maps, root motion modes,
feet landing on the target's floor."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import anny_source, effector_errors
from skeletons import core_skeleton

from blender_addon.core import bone_maps as bm
from blender_addon.core.retarget import RetargetOptions, retarget


def test_guessing_finds_mixamo_and_ue5_roles_without_their_maps():
    for kind, expect in (("mixamo", {"hips": "mixamorig:Hips", "upper_arm.L": "mixamorig:LeftArm",
                                     "shoulder.R": "mixamorig:RightShoulder", "shin.L": "mixamorig:LeftLeg",
                                     "index.02.R": "mixamorig:RightHandIndex2"}),
                         ("ue5", {"hips": "pelvis", "forearm.L": "lowerarm_l", "shin.R": "calf_r",
                                  "toe.L": "ball_l", "thumb.01.L": "thumb_01_l", "head": "head"})):
        skel = core_skeleton(kind)
        roles = bm.guess_roles(list(skel.names), skel.parents)
        for role, bone in expect.items():
            assert roles.get(role) == bone, (kind, role, roles.get(role))
        assert "upperarm_twist_01_l" not in roles.values()


def test_unknown_rig_and_bad_map_errors(tmp_path):
    src = bm.shipped_maps("source")["anny"]
    other = core_skeleton("other")
    with pytest.raises(bm.BoneMapError, match="no recognisable humanoid bones.*Bone.001"):
        bm.pair_bones(src, other.names, other.parents)
    bad = tmp_path / "bad.json"
    bad.write_text('{"bones": {"hips": "pelvis", "elbow_thing": "x"}}')
    with pytest.raises(bm.BoneMapError, match="unknown role.*elbow_thing"):
        bm.load_map_file(bad)
    bad.write_text("not json")
    with pytest.raises(bm.BoneMapError, match="not a readable bone-map JSON"):
        bm.load_map_file(bad)
    swapped = dict(bm.shipped_maps("target")["mixamo"].bones)
    swapped["forearm.L"], swapped["forearm.R"] = swapped["forearm.R"], swapped["forearm.L"]
    mix = core_skeleton("mixamo")
    with pytest.raises(bm.BoneMapError, match="not below"):
        bm.pair_bones(src, mix.names, mix.parents, bm.BoneMap("swapped", "target", swapped))


def test_root_modes_and_floor(anny_rig, walk_motion):
    travel = np.linspace(0, 1.0, walk_motion.num_frames)
    motion = dataclasses.replace(walk_motion, transl=walk_motion.transl + np.stack(
        [np.zeros_like(travel), -travel, 0.9 + 0 * travel], axis=1))  # walks 1 m forward, pelvis lifted 0.9 m
    src, G, H = anny_source(anny_rig, motion)
    tgt = core_skeleton("ue5")
    pairs = bm.pair_bones(bm.source_map("anny", anny_rig.joint_names), tgt.names, tgt.parents).pairs
    t = {r: tgt.index(b) for r, _, b in pairs}
    out = {}
    for mode in ("root_bone", "in_place", "object"):
        out[mode] = retarget(src, tgt, pairs, G, H, RetargetOptions(root_motion=mode, foot_lock=False))
    rb = out["root_bone"]
    hips = rb.heads[:, t["hips"]]
    assert hips[-1, 1] - hips[0, 1] == pytest.approx(-rb.scale * 1.0, rel=0.05)  # 1 m forward (-Y), scaled
    ankle_z = np.minimum(rb.heads[:, t["foot.L"], 2], rb.heads[:, t["foot.R"], 2])
    rest_ankle = min(tgt.heads[t["foot.L"], 2], tgt.heads[t["foot.R"], 2])
    assert np.percentile(ankle_z, 5) == pytest.approx(rest_ankle, abs=0.02)  # stands on its own floor
    ip = out["in_place"].heads[:, t["hips"]]
    assert np.abs(ip[:, :2] - ip[0, :2]).max() < 1e-9
    ob = out["object"]
    np.testing.assert_allclose(ob.heads[:, t["hips"]] + ob.object_offset, hips, atol=1e-9)
    errors = effector_errors(pairs, src, H, tgt, rb.heads)
    assert max(errors.values()) < 0.10, errors


def test_target_facing_the_other_way_and_rolled(anny_rig, walk_motion):
    """A UE5-named rig turned 180 degrees about Z with other bone rolls: effectors match after turning back."""
    from blender_addon.core.retarget import Skeleton

    src, G, H = anny_source(anny_rig, walk_motion)
    base = core_skeleton("ue5", roll_axis=(0.0, 0.3, 1.0))
    Rz = np.diag([-1.0, -1.0, 1.0])
    turned = Skeleton(names=base.names, parents=base.parents, heads=base.heads @ Rz.T, tails=base.tails @ Rz.T,
                      rest_rot=Rz[None] @ base.rest_rot)
    pairs = bm.pair_bones(bm.source_map("anny", anny_rig.joint_names), turned.names, turned.parents).pairs
    res = retarget(src, turned, pairs, G, H, RetargetOptions(foot_lock=False))
    back = res.heads @ Rz  # undo the turn (Rz is its own inverse)
    errors = effector_errors(pairs, src, H, base, back)
    assert max(errors.values()) < 0.10, errors


def test_smplx_source_onto_mixamo(synthetic_model_dir):
    """An SMPL-X body (the synthetic model files, Y up) bends its arms, knees and spine; a Mixamo-named rig follows."""
    pytest.importorskip("torch")
    from backend.bodymodels import load_body_model
    from blender_addon.core.retarget import Skeleton
    from blender_addon.core.rotations import rotvec_to_matrix

    rig = load_body_model("smplx", model_dir=synthetic_model_dir).rig_spec()
    W = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # model Y up -> Blender Z up
    F = 30
    rotvec = np.zeros((F, rig.num_joints, 3))
    t = np.linspace(0, 2 * np.pi, F)
    for name, axis, amp in (("left_shoulder", 2, -1.0), ("right_elbow", 1, 1.2), ("left_knee", 0, 1.0),
                            ("spine2", 1, 0.4), ("neck", 0, 0.3), ("right_hip", 0, -0.6)):
        rotvec[:, rig.joint_names.index(name), axis] = amp * np.sin(t)
    G, heads = rig.forward_kinematics(rotvec_to_matrix(rotvec))
    src = Skeleton(names=tuple(rig.joint_names), parents=np.asarray(rig.parents), heads=rig.rest_joints @ W.T,
                   tails=rig.bone_tails @ W.T, rest_rot=W[None] @ rig.rest_orient)
    src_rot, src_heads = W[None, None] @ G @ rig.rest_orient[None], heads @ W.T
    tgt = core_skeleton("mixamo")
    pairing = bm.pair_bones(bm.source_map("smplx", rig.joint_names), tgt.names, tgt.parents)
    assert {"hand.L", "index.02.R", "toe.L"} <= {r for r, _, _ in pairing.pairs}
    res = retarget(src, tgt, pairing.pairs, src_rot, src_heads, RetargetOptions(foot_lock=False))
    errors = effector_errors(pairing.pairs, src, src_heads, tgt, res.heads)
    assert max(errors.values()) < 0.10, errors
