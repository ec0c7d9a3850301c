"""Helpers for the Blender build tests: a small synthetic humanoid RigSpec with non-identity bone frames and
shape/expression/pose blendshapes, random motions, and evaluation of built rigs and meshes."""

from __future__ import annotations

import numpy as np
from bpy_helpers import evaluated_local_verts  # noqa: F401  (re-exported for the build tests)

from blender_addon.core.motion import Camera, Motion
from blender_addon.core.rigspec import RigSpec

# name, parent, rest position (Y up, metres)
_JOINTS = (
    ("pelvis", -1, (0.0, 0.9, 0.0)), ("spine", 0, (0.0, 1.1, -0.02)), ("neck", 1, (0.0, 1.45, 0.0)),
    ("head", 2, (0.0, 1.6, 0.03)), ("left_hip", 0, (0.1, 0.85, 0.0)), ("left_knee", 4, (0.12, 0.47, 0.02)),
    ("right_hip", 0, (-0.1, 0.85, 0.0)), ("right_knee", 6, (-0.12, 0.47, 0.02)),
    ("left_shoulder", 1, (0.18, 1.4, 0.0)), ("left_elbow", 8, (0.45, 1.38, -0.03)),
)
EXPR_NAMES = ("jawOpen", "eyeBlinkLeft", "mouthSmileRight")


def _frame_towards(direction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotation whose y column points along ``direction`` with a random roll."""
    y = direction / np.linalg.norm(direction)
    a = rng.normal(size=3)
    x = a - y * (a @ y)
    x /= np.linalg.norm(x)
    return np.stack([x, y, np.cross(x, y)], axis=1)


def make_toy_rig(seed: int = 0, up_axis: str = "Y", verts_per_bone: int = 24) -> RigSpec:
    """A 10-joint humanoid with boxes of vertices along each bone, 2-3 weights per vertex, UVs, 4 shape,
    3 expression and 81 pose-corrective blendshapes (random, centimetre scale)."""
    rng = np.random.default_rng(seed)
    names = tuple(n for n, _, _ in _JOINTS)
    parents = np.array([p for _, p, _ in _JOINTS], np.int32)
    rest = np.array([r for _, _, r in _JOINTS], np.float64)
    J = len(names)
    children = {j: [c for c in range(J) if parents[c] == j] for j in range(J)}
    tails = np.empty((J, 3))
    orient = np.empty((J, 3, 3))
    for j in range(J):
        if children[j]:
            tails[j] = rest[children[j][0]]
        else:
            tails[j] = rest[j] + 0.6 * (rest[j] - rest[parents[j]])
        orient[j] = _frame_towards(tails[j] - rest[j], rng)
    verts, weights = [], []
    for j in range(J):
        t = rng.uniform(0.0, 1.0, verts_per_bone)
        pts = rest[j] + t[:, None] * (tails[j] - rest[j]) + rng.normal(scale=0.04, size=(verts_per_bone, 3))
        w = np.zeros((verts_per_bone, J))
        w[:, j] = 1.0 - 0.5 * t
        other = parents[j] if parents[j] >= 0 else (children[j][0] if children[j] else j)
        w[:, other] += 0.5 * t
        third = int(rng.integers(J))
        w[:, third] += rng.uniform(0.0, 0.2, verts_per_bone)
        verts.append(pts)
        weights.append(w / w.sum(1, keepdims=True))
    template = np.concatenate(verts)
    skin = np.concatenate(weights).astype(np.float32)
    V = len(template)
    faces = np.array([(i, (i + 1) % V, (i + 2) % V) for i in range(0, V - 2, 2)], np.int32)
    uvs = rng.uniform(0, 1, (len(faces), 3, 2)).astype(np.float32)
    S, E, P = 4, len(EXPR_NAMES), 9 * (J - 1)
    return RigSpec(
        model="toy", joint_names=names, parents=parents, rest_joints=rest, rest_orient=orient, bone_tails=tails,
        template=template, faces=faces, skin_weights=skin, up_axis=up_axis, uvs=uvs,
        shape_names=tuple(f"Shape{k:03d}" for k in range(S)),
        shape_dirs=rng.normal(scale=0.01, size=(S, V, 3)).astype(np.float32),
        shape_joint_dirs=rng.normal(scale=0.01, size=(S, J, 3)).astype(np.float32),
        shape_range=np.tile([[-3.0, 3.0]], (S, 1)).astype(np.float32),
        expr_names=EXPR_NAMES, expr_dirs=rng.normal(scale=0.005, size=(E, V, 3)).astype(np.float32),
        expr_joint_dirs=np.zeros((E, J, 3), np.float32), expr_range=np.tile([[0.0, 1.0]], (E, 1)).astype(np.float32),
        pose_names=tuple(f"Pose{k:03d}" for k in range(P)),
        pose_dirs=rng.normal(scale=0.003, size=(P, V, 3)).astype(np.float32),
    )


def make_motion(joint_names, frames: int = 100, fps: float = 30.0, seed: int = 1, scale: float = 0.6,
                expr_dim: int = 0, model: str = "toy", up_axis: str = "Y", camera: bool = False) -> Motion:
    """Random smooth-ish motion: axis-angle up to ~``scale`` rad per joint, a drifting root, optional camera."""
    rng = np.random.default_rng(seed)
    J = len(joint_names)
    t = np.arange(frames)[:, None, None] / fps
    freq = rng.uniform(0.2, 1.5, (1, J, 3))
    phase = rng.uniform(0, 2 * np.pi, (1, J, 3))
    rotvec = scale * np.sin(2 * np.pi * freq * t + phase) + 0.1 * rng.normal(size=(frames, J, 3))
    transl = np.cumsum(rng.normal(scale=0.01, size=(frames, 3)), axis=0)
    cam = None
    if camera:
        from blender_addon.core.rotations import rotvec_to_matrix

        K = np.tile(np.array([[1500.0, 0, 700.0], [0, 1500.0, 420.0], [0, 0, 1]]), (frames, 1, 1))
        K[:, 0, 0] += np.linspace(0, 100, frames)
        K[:, 1, 1] = K[:, 0, 0]
        R = rotvec_to_matrix(np.array([np.pi, 0.0, 0.0]) + rng.normal(scale=0.05, size=(frames, 3)))
        tc = np.array([0.0, 1.0, 4.0]) + rng.normal(scale=0.02, size=(frames, 3))
        cam = Camera(K=K, R=R, t=tc, image_size=(1400, 900))
    expr = rng.uniform(0, 1, (frames, expr_dim)) if expr_dim else None
    return Motion(model=model, fps=fps, joint_names=tuple(joint_names), rotvec=rotvec, transl=transl,
                  betas=rng.normal(size=4), expression=expr, camera=cam, up_axis=up_axis)


def world_heads(arm_ob, names) -> np.ndarray:
    """(J, 3) posed heads of bones ``names`` in Blender world coordinates, at the current frame."""
    pose = arm_ob.pose.bones
    m = np.empty(len(pose) * 16, np.float32)
    pose.foreach_get("matrix", m)
    order = {b.name: i for i, b in enumerate(pose)}
    m = m.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)[[order[n] for n in names]]
    W = np.array(arm_ob.matrix_world)
    return m[:, :3, 3] @ W[:3, :3].T + W[:3, 3]


