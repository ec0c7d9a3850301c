"""Shared helpers: the Anny source skeleton and motion in world space, end-effector and skating measures."""

from __future__ import annotations

import numpy as np

from blender_addon.core.retarget import Skeleton
from blender_addon.core.rotations import rotvec_to_matrix

EFFECTORS = {  # effector role -> (limb root role, roles along the limb for its length)
    "hand.L": ("upper_arm.L", ("upper_arm.L", "forearm.L", "hand.L")),
    "hand.R": ("upper_arm.R", ("upper_arm.R", "forearm.R", "hand.R")),
    "foot.L": ("thigh.L", ("thigh.L", "shin.L", "foot.L")),
    "foot.R": ("thigh.R", ("thigh.R", "shin.R", "foot.R")),
    "head": ("hips", ("hips", "spine", "chest", "upper_chest", "neck", "head")),
}


def anny_source(rig, motion):
    """(Skeleton, world rotations (F, J, 3, 3), heads (F, J, 3)) of an Anny RigSpec posed by a Motion (Z up)."""
    src = Skeleton(names=tuple(rig.joint_names), parents=np.asarray(rig.parents), heads=rig.rest_joints,
                   tails=rig.bone_tails, rest_rot=rig.rest_orient)
    G, heads = rig.forward_kinematics(rotvec_to_matrix(motion.rotvec), motion.transl)
    return src, G @ rig.rest_orient[None], heads


def limb_length(heads: np.ndarray, chain: tuple[int, ...]) -> float:
    return float(sum(np.linalg.norm(heads[b] - heads[a]) for a, b in zip(chain[:-1], chain[1:], strict=True)))


def effector_errors(pairs, src_skel, src_heads, tgt_skel, tgt_heads) -> dict:
    """role -> max over frames of |(e - root)/L| target minus source (fraction of each side's limb length)."""
    s = {r: src_skel.index(a) for r, a, _ in pairs}
    t = {r: tgt_skel.index(b) for r, _, b in pairs}
    out = {}
    for eff, (root, chain) in EFFECTORS.items():
        chain = tuple(r for r in chain if r in s and r in t)
        ls = limb_length(src_skel.heads, tuple(s[r] for r in chain))
        lt = limb_length(tgt_skel.heads, tuple(t[r] for r in chain))
        vs = (src_heads[:, s[eff]] - src_heads[:, s[root]]) / ls
        vt = (tgt_heads[:, t[eff]] - tgt_heads[:, t[root]]) / lt
        out[eff] = float(np.linalg.norm(vt - vs, axis=-1).max())
    return out
