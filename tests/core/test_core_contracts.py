"""The bpy-free contracts: rotation maths, RigSpec kinematics/skinning and file round trips."""

from __future__ import annotations

import numpy as np
import pytest

from blender_addon.core import rotations as rot
from blender_addon.core.motion import Camera, Motion, MotionError
from blender_addon.core.rigspec import RigSpec, RigSpecError


def _chain_spec(rng: np.random.Generator, joints: int = 6, verts: int = 40) -> RigSpec:
    """A branching chain with random rest frames, blendshapes and pose correctives."""
    parents = np.array([-1] + [max(0, j - 1 - (j % 3 == 0)) for j in range(1, joints)], np.int32)
    rest = np.cumsum(rng.normal(0, 0.2, (joints, 3)), axis=0)
    orient = rot.rotvec_to_matrix(rng.normal(0, 1.0, (joints, 3)))
    template = rest[rng.integers(0, joints, verts)] + rng.normal(0, 0.05, (verts, 3))
    w = rng.random((verts, joints)) ** 4
    w /= w.sum(1, keepdims=True)
    faces = rng.integers(0, verts, (30, 3)).astype(np.int32)
    S, E, P = 3, 2, 9 * (joints - 1)
    return RigSpec(
        model="test", joint_names=tuple(f"j{i}" for i in range(joints)), parents=parents, rest_joints=rest,
        rest_orient=orient, bone_tails=rest + orient[:, :, 1] * 0.1, template=template, faces=faces,
        skin_weights=w.astype(np.float32), shape_names=("s0", "s1", "s2"),
        shape_dirs=rng.normal(0, 0.01, (S, verts, 3)).astype(np.float32),
        shape_joint_dirs=rng.normal(0, 0.01, (S, joints, 3)).astype(np.float32),
        shape_range=np.tile([-5.0, 5.0], (S, 1)).astype(np.float32), expr_names=("e0", "e1"),
        expr_dirs=rng.normal(0, 0.01, (E, verts, 3)).astype(np.float32),
        expr_joint_dirs=np.zeros((E, joints, 3), np.float32), expr_range=np.tile([-2.0, 2.0], (E, 1)),
        pose_names=tuple(f"p{i}" for i in range(P)), pose_dirs=rng.normal(0, 0.001, (P, verts, 3)).astype(np.float32),
    )


def test_rotation_round_trips():
    rng = np.random.default_rng(0)
    v = rng.normal(0, 1.2, (500, 3))
    m = rot.rotvec_to_matrix(v)
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(rot.rotvec_to_matrix(rot.matrix_to_rotvec(m)), m, atol=1e-10)
    assert np.allclose(rot.quat_to_matrix(rot.matrix_to_quat(m)), m, atol=1e-10)
    assert np.allclose(rot.quat_to_matrix(rot.rotvec_to_quat(v)), m, atol=1e-10)
    # near-zero and near-pi angles
    edge = np.array([[0, 0, 0], [1e-9, 0, 0], [np.pi - 1e-7, 0, 0], [0, 0, -np.pi + 1e-6]])
    assert np.allclose(rot.rotvec_to_matrix(rot.matrix_to_rotvec(rot.rotvec_to_matrix(edge))),
                       rot.rotvec_to_matrix(edge), atol=1e-6)
    q1, q2 = rot.rotvec_to_quat(v[:10]), rot.rotvec_to_quat(v[10:20])
    assert np.allclose(rot.quat_to_matrix(rot.quat_multiply(q1, q2)), m[:10] @ m[10:20], atol=1e-10)


def test_quat_continuity_removes_sign_flips_only():
    rng = np.random.default_rng(1)
    angles = np.linspace(0, 6 * np.pi, 200)[:, None] * np.array([[0.0, 0.0, 1.0]])
    q = rot.rotvec_to_quat(angles)
    q[rng.random(200) < 0.5] *= -1
    fixed = rot.quat_continuity(q)
    assert np.all(np.sum(fixed[1:] * fixed[:-1], -1) >= 0)
    assert np.allclose(rot.quat_to_matrix(fixed), rot.quat_to_matrix(q))


def test_forward_kinematics_matches_homogeneous_chain():
    rng = np.random.default_rng(2)
    spec = _chain_spec(rng)
    F, J = 4, spec.num_joints
    R = rot.rotvec_to_matrix(rng.normal(0, 0.6, (F, J, 3)))
    t = rng.normal(0, 0.5, (F, 3))
    G, heads = spec.forward_kinematics(R, t)
    for f in range(F):
        world = []
        for j in range(J):
            p = spec.parents[j]
            local = np.eye(4)
            local[:3, :3] = R[f, j]
            local[:3, 3] = spec.rest_joints[j] - (spec.rest_joints[p] if p >= 0 else 0) + (t[f] if p < 0 else 0)
            world.append(local if p < 0 else world[p] @ local)
        world = np.stack(world)
        assert np.allclose(world[:, :3, 3], heads[f], atol=1e-12)
        assert np.allclose(world[:, :3, :3], G[f], atol=1e-12)


def test_blender_bone_convention_reproduces_kinematics():
    """Blender: M_j = M_p Rest_p^-1 Rest_j Basis_j, Basis_j = B_j^T R_j B_j, root location B_0^T transl."""
    rng = np.random.default_rng(3)
    spec = _chain_spec(rng)
    R = rot.rotvec_to_matrix(rng.normal(0, 0.6, (spec.num_joints, 3)))
    t = rng.normal(0, 0.5, 3)
    G, heads = spec.forward_kinematics(R[None], t[None])
    rest = np.tile(np.eye(4), (spec.num_joints, 1, 1))
    rest[:, :3, :3], rest[:, :3, 3] = spec.rest_orient, spec.rest_joints
    M = []
    for j in range(spec.num_joints):
        B = spec.rest_orient[j]
        basis = np.eye(4)
        basis[:3, :3] = B.T @ R[j] @ B
        if j == 0:
            basis[:3, 3] = B.T @ t
            M.append(rest[0] @ basis)
        else:
            p = spec.parents[j]
            M.append(M[p] @ np.linalg.inv(rest[p]) @ rest[j] @ basis)
    M = np.stack(M)
    assert np.allclose(M[:, :3, 3], heads[0], atol=1e-10)
    assert np.allclose(M[:, :3, :3], G[0] @ spec.rest_orient, atol=1e-10)


def test_skinning_identity_pose_gives_rest_and_is_rigid_for_single_bone():
    rng = np.random.default_rng(4)
    spec = _chain_spec(rng)
    J = spec.num_joints
    betas, expr = rng.normal(0, 1, 3), rng.normal(0, 1, 2)
    verts, joints = spec.skin(np.tile(np.eye(3), (1, J, 1, 1)), np.zeros((1, 3)), betas, expr)
    rest_v, rest_j = spec.rest_state(betas, expr)
    assert np.allclose(verts[0], rest_v, atol=1e-12) and np.allclose(joints[0], rest_j, atol=1e-12)
    assert not np.allclose(rest_v, spec.template, atol=1e-4)  # blendshapes move vertices
    # A global rotation + translation moves every vertex rigidly (correctives off: they see only joints 1..).
    R0 = rot.rotvec_to_matrix(np.array([0.3, -0.2, 0.9]))
    R = np.tile(np.eye(3), (1, J, 1, 1))
    R[0, 0] = R0
    t = np.array([[0.1, 0.2, -0.3]])
    verts, _ = spec.skin(R, t, betas, expr)
    expected = (rest_v - rest_j[0]) @ R0.T + rest_j[0] + t
    assert np.allclose(verts[0], expected, atol=1e-10)


def test_rigspec_round_trip_and_clear_errors(tmp_path):
    rng = np.random.default_rng(5)
    spec = _chain_spec(rng)
    path = spec.save(tmp_path / "rig.npz")
    back = RigSpec.load(path)
    assert back.joint_names == spec.joint_names and back.model == "test"
    for name in ("parents", "rest_joints", "rest_orient", "template", "skin_weights", "pose_dirs"):
        assert np.array_equal(getattr(back, name), getattr(spec, name))
    with pytest.raises(RigSpecError, match="no such RigSpec"):
        RigSpec.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(path.read_bytes()[:100])
    with pytest.raises(RigSpecError, match="bad.npz"):
        RigSpec.load(bad)


def test_motion_round_trip_and_validation(tmp_path):
    rng = np.random.default_rng(6)
    F, J = 7, 5
    cam = Camera(K=np.tile(np.diag([1000.0, 1000.0, 1.0]), (F, 1, 1)), R=np.tile(np.eye(3), (F, 1, 1)),
                 t=rng.normal(0, 1, (F, 3)), image_size=(640, 480))
    m = Motion(model="smplx", fps=30.0, joint_names=tuple(f"j{i}" for i in range(J)),
               rotvec=rng.normal(0, 0.5, (F, J, 3)), transl=rng.normal(0, 1, (F, 3)), betas=rng.normal(0, 1, 10),
               expression=rng.normal(0, 1, (F, 4)), confidence=rng.random(F), camera=cam,
               foot_contact=rng.random((F, 2)) > 0.5, source_video="clip.mp4")
    back = Motion.load(m.save(tmp_path / "m.npz"))
    assert back.num_frames == F and back.fps == 30.0 and back.camera.image_size == (640, 480)
    assert np.allclose(back.rotvec, m.rotvec) and np.allclose(back.expression, m.expression)
    assert back.duration == pytest.approx(F / 30.0)
    broken = Motion(model="smplx", fps=30.0, joint_names=("a",), rotvec=np.zeros((3, 2, 3)), transl=np.zeros((3, 3)))
    with pytest.raises(MotionError, match="rotvec has shape"):
        broken.save(tmp_path / "broken.npz")
    assert not (tmp_path / "broken.npz").exists()
