"""SMPL-family adapters on SYNTHETIC model files: our forward equals the real smplx classes, the numpy RigSpec
skinning equals our forward, blendshapes behave as documented."""

from __future__ import annotations

import numpy as np
import pytest
import roma
import smplx
import torch

from backend.bodymodels import load_body_model

MODELS = ("smplx", "smplh", "smpl", "flame", "mano")
EXPECTED = {"smplx": (55, 10475, 20908, 486), "smplh": (52, 6890, 13776, 459), "smpl": (24, 6890, 13776, 207),
            "flame": (5, 5023, 9976, 36), "mano": (16, 778, 1538, 135)}


@pytest.fixture(scope="module")
def family(synthetic_model_dir):
    return {name: load_body_model(name, model_dir=synthetic_model_dir) for name in MODELS}


def _random_params(model, batch, seed):
    g = torch.Generator().manual_seed(seed)
    rotvec = torch.randn(batch, model.num_joints, 3, generator=g) * 0.4
    transl = torch.randn(batch, 3, generator=g) * 0.5
    shape = torch.randn(batch, model.num_shape, generator=g)
    expr = torch.randn(batch, model.num_expression, generator=g) if model.num_expression else None
    return rotvec, transl, shape, expr


@pytest.mark.parametrize("name", MODELS)
def test_sizes_match_the_released_models(family, name):
    model = family[name]
    J, V, F, P = EXPECTED[name]
    spec = model.rig_spec()
    assert (model.num_joints, spec.num_vertices, spec.faces.shape[0], len(spec.pose_names)) == (J, V, F, P)
    assert model.faces.shape == (F, 3) and model.faces.dtype == torch.int64
    assert model.num_expression == (10 if name in ("smplx", "flame") else 0)
    assert spec.up_axis == "Y" and len(set(model.joint_names)) == J


@pytest.mark.parametrize("name", MODELS)
def test_zero_parameters_give_the_rest_mesh(family, name):
    model = family[name]
    spec = model.rig_spec()
    out = model(model.zero_pose(2))
    np.testing.assert_allclose(out.vertices[1].numpy(), spec.template, atol=1e-6)
    np.testing.assert_allclose(out.joints[0].numpy(), spec.rest_joints, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_rigspec_skinning_reproduces_forward(family, name):
    model = family[name]
    spec = model.rig_spec()
    rotvec, transl, shape, expr = _random_params(model, 3, seed=1)
    out = model(rotvec, transl, shape, expr)
    R = roma.rotvec_to_rotmat(rotvec.double()).numpy()
    for b in range(3):
        v, j = spec.skin(R[b:b + 1], transl[b:b + 1].double().numpy(), shape=shape[b].double().numpy(),
                         expression=None if expr is None else expr[b].double().numpy())
        assert np.abs(v[0] - out.vertices[b].double().numpy()).max() < 1e-4
        assert np.abs(j[0] - out.joints[b].double().numpy()).max() < 1e-4
    # Pose correctives matter: without them numpy skinning is off.
    v, _ = spec.skin(R[:1], transl[:1].double().numpy(), shape=shape[0].double().numpy(),
                     expression=None if expr is None else expr[0].double().numpy(), pose_correctives=False)
    assert np.abs(v[0] - out.vertices[0].double().numpy()).max() > 1e-3


def _real_smplx_forward(name, folder, rotvec, transl, shape, expr):
    B = rotvec.shape[0]
    flat = rotvec.reshape(B, -1)
    common = dict(batch_size=B, num_betas=shape.shape[1])
    if name == "smplx":
        layer = smplx.SMPLX(str(folder), gender="neutral", ext="npz", use_pca=False, flat_hand_mean=True,
                            num_expression_coeffs=expr.shape[1], **common)
        out = layer(betas=shape, expression=expr, global_orient=flat[:, :3], body_pose=flat[:, 3:66],
                    jaw_pose=flat[:, 66:69], leye_pose=flat[:, 69:72], reye_pose=flat[:, 72:75],
                    left_hand_pose=flat[:, 75:120], right_hand_pose=flat[:, 120:165], transl=transl)
    elif name == "smplh":
        layer = smplx.SMPLH(str(folder), gender="neutral", ext="pkl", use_pca=False, flat_hand_mean=True, **common)
        out = layer(betas=shape, global_orient=flat[:, :3], body_pose=flat[:, 3:66], left_hand_pose=flat[:, 66:111],
                    right_hand_pose=flat[:, 111:156], transl=transl)
    elif name == "smpl":
        layer = smplx.SMPL(str(folder), gender="neutral", **common)
        out = layer(betas=shape, global_orient=flat[:, :3], body_pose=flat[:, 3:], transl=transl)
    elif name == "flame":
        layer = smplx.FLAME(str(folder), gender="neutral", ext="pkl", num_expression_coeffs=expr.shape[1], **common)
        out = layer(betas=shape, expression=expr, global_orient=flat[:, :3], neck_pose=flat[:, 3:6],
                    jaw_pose=flat[:, 6:9], leye_pose=flat[:, 9:12], reye_pose=flat[:, 12:15], transl=transl)
    else:
        layer = smplx.MANO(str(folder), is_rhand=True, use_pca=False, flat_hand_mean=True, **common)
        out = layer(betas=shape, global_orient=flat[:, :3], hand_pose=flat[:, 3:], transl=transl)
    return out.vertices, out.joints[:, :rotvec.shape[1]]


@pytest.mark.parametrize("name", MODELS)
def test_forward_equals_the_real_smplx_class(family, synthetic_model_dir, name):
    model = family[name]
    rotvec, transl, shape, expr = _random_params(model, 2, seed=2)
    ours = model(rotvec, transl, shape, expr)
    verts, joints = _real_smplx_forward(name, synthetic_model_dir, rotvec, transl, shape, expr)
    torch.testing.assert_close(ours.vertices, verts, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.joints, joints, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ("smplx", "flame"))
def test_shape_and_expression_are_linear_and_move_joints(family, name):
    model = family[name]
    spec = model.rig_spec()
    zero = model.zero_pose(1)
    for kind, count, dirs, jdirs in (("shape", model.num_shape, spec.shape_dirs, spec.shape_joint_dirs),
                                     ("expression", model.num_expression, spec.expr_dirs, spec.expr_joint_dirs)):
        coeffs = torch.zeros(1, count)
        coeffs[0, 3] = 1.0
        one = model(zero, **{kind: coeffs})
        two = model(zero, **{kind: 2 * coeffs})
        d1 = one.vertices[0].double().numpy() - spec.template
        d2 = two.vertices[0].double().numpy() - spec.template
        np.testing.assert_allclose(d2, 2 * d1, atol=1e-6)
        np.testing.assert_allclose(d1, dirs[3], atol=1e-6)
        assert np.abs(d1).max() > 1e-4
        np.testing.assert_allclose(one.joints[0].double().numpy() - spec.rest_joints, jdirs[3], atol=1e-6)


def test_shape_batch_broadcasts_over_poses(family):
    model = family["smplx"]
    rotvec, transl, shape, expr = _random_params(model, 4, seed=3)
    shared = model(rotvec, transl, shape[:1], expr[:1])
    each = model(rotvec, transl, shape[:1].expand(4, -1), expr[:1].expand(4, -1))
    torch.testing.assert_close(shared.vertices, each.vertices)


def test_forward_is_differentiable(family):
    model = family["smplx"]
    rotvec, transl, shape, expr = _random_params(model, 2, seed=4)
    for t in (rotvec, transl, shape, expr):
        t.requires_grad_(True)
    out = model(rotvec, transl, shape, expr)
    out.vertices.square().sum().backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
               for t in (rotvec, transl, shape, expr))


def test_coefficient_counts_are_configurable(synthetic_model_dir):
    model = load_body_model("smplx", model_dir=synthetic_model_dir, num_betas=300, num_expression=100)
    assert (model.num_shape, model.num_expression) == (300, 100)
    spec = model.rig_spec()
    assert spec.shape_dirs.shape == (300, 10475, 3) and spec.expr_dirs.shape == (100, 10475, 3)
    model = load_body_model("smplx", model_dir=synthetic_model_dir, num_betas=500, num_expression=0)
    assert (model.num_shape, model.num_expression) == (300, 0)


def test_mano_left_hand_mirrors_the_right(synthetic_model_dir):
    right = load_body_model("mano", model_dir=synthetic_model_dir, side="right").rig_spec()
    left = load_body_model("mano", model_dir=synthetic_model_dir, gender="left").rig_spec()
    assert left.gender == "left" and right.gender == "right"
    np.testing.assert_allclose(left.rest_joints[:, 0], -right.rest_joints[:, 0], atol=0.01)


@pytest.mark.parametrize("name", MODELS)
def test_bone_frames_point_at_tails(family, name):
    spec = family[name].rig_spec()
    R = spec.rest_orient
    np.testing.assert_allclose(np.einsum("jab,jac->jbc", R, R), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)
    y = spec.bone_tails - spec.rest_joints
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    np.testing.assert_allclose(R[:, :, 1], y, atol=1e-9)
    if name == "smplx":  # limb bones point at their child: the left elbow's bone ends at the left wrist
        names = list(spec.joint_names)
        np.testing.assert_allclose(spec.bone_tails[names.index("left_elbow")],
                                   spec.rest_joints[names.index("left_wrist")])
        assert spec.bone_tails[0][1] > spec.rest_joints[0][1]  # pelvis points up the spine
