"""The Anny adapter: conventions (rest pose, root translation, Z up), numpy RigSpec skinning vs the torch forward,
phenotype and facial-action blendshapes."""

from __future__ import annotations

import numpy as np
import pytest
import roma
import torch

from blender_addon.core.rigspec import RigSpec

# The 52 ARKit blendshape names (Apple ARFaceAnchor.BlendShapeLocation).
ARKIT = {
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff",
    "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker",
    "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft",
    "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight", "tongueOut",
}


@pytest.fixture(scope="module")
def spec(anny_rigspec_path) -> RigSpec:
    return RigSpec.load(anny_rigspec_path)


def test_rig_has_fingers_facial_actions_uvs_and_z_up(anny_model, spec):
    assert anny_model.num_joints == 104 and spec.num_joints == 104
    assert {"finger1-3.L", "finger5-3.R", "wrist.L", "head"} <= set(spec.joint_names)
    assert set(spec.expr_names) == ARKIT and len(spec.expr_names) == 52
    assert anny_model.expression_names == spec.expr_names and anny_model.num_expression == 52
    assert spec.faces.shape == (27420, 3) and spec.faces.max() < spec.num_vertices
    assert spec.uvs is not None and spec.uvs.shape == (27420, 3, 2)
    assert 0.0 <= spec.uvs.min() and spec.uvs.max() <= 1.0
    np.testing.assert_allclose(spec.skin_weights.sum(1), 1.0, atol=1e-5)
    # Z up, metres: the head is ~1.5 m above the feet.
    names = list(spec.joint_names)
    rise = spec.rest_joints[names.index("head"), 2] - spec.rest_joints[names.index("foot.L"), 2]
    assert spec.up_axis == "Z" and 1.0 < rise < 1.9
    assert spec.param_names == ("gender", "age", "muscle", "weight", "height", "proportions")


def test_zero_pose_gives_the_rest_mesh_and_translation_moves_the_root(anny_model, spec):
    out = anny_model(anny_model.zero_pose(1))
    np.testing.assert_allclose(out.vertices[0].double().numpy(), spec.template, atol=1e-5)
    np.testing.assert_allclose(out.joints[0].double().numpy(), spec.rest_joints, atol=1e-5)
    transl = torch.tensor([[0.3, -0.2, 1.0]])
    moved = anny_model(anny_model.zero_pose(1), transl=transl)
    np.testing.assert_allclose(moved.joints[0, 0].double().numpy(), spec.rest_joints[0] + [0.3, -0.2, 1.0],
                               atol=1e-5)
    np.testing.assert_allclose((moved.vertices - out.vertices)[0].numpy(),
                               np.broadcast_to([0.3, -0.2, 1.0], out.vertices[0].shape), atol=1e-5)


def test_rigspec_skinning_reproduces_forward(anny_model, spec):
    g = torch.Generator().manual_seed(0)
    B = 3
    rotvec = torch.randn(B, 104, 3, generator=g) * 0.4
    transl = torch.randn(B, 3, generator=g)
    expr = torch.rand(B, 52, generator=g)
    out = anny_model(rotvec, transl, expression=expr)
    R = roma.rotvec_to_rotmat(rotvec.double()).numpy()
    for b in range(B):
        v, j = spec.skin(R[b:b + 1], transl[b:b + 1].double().numpy(), expression=expr[b].double().numpy())
        assert np.abs(v[0] - out.vertices[b].double().numpy()).max() < 1e-4
        assert np.abs(j[0] - out.joints[b].double().numpy()).max() < 1e-4


def test_baked_phenotype_rigspec_reproduces_forward_with_that_shape(anny_model):
    shape = torch.tensor([[-0.3, 0.2, 0.1, 0.25, -0.2, 0.1]])  # offsets from the base phenotype (0.5 each)
    spec = anny_model.rig_spec(shape)
    np.testing.assert_allclose(spec.param_defaults, 0.5 + shape[0].numpy(), atol=1e-6)
    g = torch.Generator().manual_seed(1)
    rotvec = torch.randn(2, 104, 3, generator=g) * 0.4
    out = anny_model(rotvec, shape=shape)
    R = roma.rotvec_to_rotmat(rotvec.double()).numpy()
    v, j = spec.skin(R)
    assert np.abs(v - out.vertices.double().numpy()).max() < 1e-4
    assert np.abs(j - out.joints.double().numpy()).max() < 1e-4
    assert np.abs(spec.template - anny_model.rig_spec().template).max() > 0.01  # the phenotype changed the body


def test_phenotype_shape_keys_are_exact_one_at_a_time(anny_model, spec):
    """Shape key '<p>_max' at 1 = the body with that phenotype at 1; '<p>_min' at 1 = at 0; joints follow."""
    zero = anny_model.zero_pose(1)
    for k, name in enumerate(spec.param_names):
        for suffix, target in (("_min", 0.0), ("_max", 1.0)):
            coeffs = np.zeros(len(spec.shape_names))
            coeffs[spec.shape_names.index(name + suffix)] = 1.0
            verts, joints = spec.rest_state(shape=coeffs)
            offset = torch.zeros(1, 6)
            offset[0, k] = target - float(spec.param_defaults[k])
            out = anny_model(zero, shape=offset)
            assert np.abs(verts - out.vertices[0].double().numpy()).max() < 1e-4, name + suffix
            assert np.abs(joints - out.joints[0].double().numpy()).max() < 1e-4, name + suffix
    assert np.abs(spec.shape_dirs[spec.shape_names.index("height_max")]).max() > 0.02


def test_facial_actions_are_linear_blendshapes(anny_model, spec):
    zero = anny_model.zero_pose(1)
    k = spec.expr_names.index("jawOpen")
    e = torch.zeros(1, 52)
    e[0, k] = 0.5
    half = anny_model(zero, expression=e).vertices[0].double().numpy() - spec.template
    e[0, k] = 1.0
    full = anny_model(zero, expression=e).vertices[0].double().numpy() - spec.template
    np.testing.assert_allclose(full, 2 * half, atol=2e-5)
    np.testing.assert_allclose(full, spec.expr_dirs[k], atol=2e-5)
    assert np.abs(full).max() > 0.005  # the jaw really opens
    assert np.abs(full[spec.skin_weights[:, list(spec.joint_names).index("foot.L")] > 0.5]).max() < 1e-6


def test_forward_is_batched_differentiable_and_float32(anny_model):
    rotvec = (torch.randn(4, 104, 3) * 0.2).requires_grad_(True)
    shape = torch.zeros(1, 6, requires_grad=True)
    expr = torch.zeros(4, 52, requires_grad=True)
    out = anny_model(rotvec, torch.zeros(4, 3), shape, expr)
    assert out.vertices.shape == (4, 13718, 3) and out.joints.shape == (4, 104, 3)
    assert out.vertices.dtype == torch.float32
    assert next(iter(anny_model.buffers())).dtype == torch.float32  # callers take device/dtype from it
    out.vertices.sum().backward()
    assert all(torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0 for t in (rotvec, shape, expr))


def test_bone_frames_point_at_tails(spec):
    R = spec.rest_orient
    np.testing.assert_allclose(np.einsum("jab,jac->jbc", R, R), np.broadcast_to(np.eye(3), R.shape), atol=1e-6)
    y = spec.bone_tails - spec.rest_joints
    lengths = np.linalg.norm(y, axis=1)
    assert lengths.min() > 0.005
    np.testing.assert_allclose(R[:, :, 1], y / lengths[:, None], atol=1e-6)
    names = list(spec.joint_names)
    upper, lower = names.index("upperleg02.L"), names.index("lowerleg01.L")
    np.testing.assert_allclose(spec.bone_tails[upper], spec.rest_joints[lower], atol=0.01)


def test_fast_forward_equals_annys_own_kinematics_and_skinning(anny_model):
    """The fast path (FK on heads only, one GEMM) against Anny's rest model, forward_kinematic and skinning."""
    g = torch.Generator().manual_seed(2)
    rotvec = torch.randn(3, 104, 3, generator=g) * 0.5
    transl = torch.randn(3, 3, generator=g)
    for shape, expr in ((None, None), (torch.randn(1, 6, generator=g) * 0.2, torch.rand(3, 52, generator=g)),
                        (torch.randn(3, 6, generator=g) * 0.2, torch.rand(1, 52, generator=g))):
        fast = anny_model(rotvec, transl, shape, expr)
        ref = anny_model.forward_anny_pipeline(rotvec, transl, shape, expr)
        torch.testing.assert_close(fast.vertices, ref.vertices, atol=1e-5, rtol=0)
        torch.testing.assert_close(fast.joints, ref.joints, atol=1e-5, rtol=0)


def test_gender_argument_sets_the_gender_phenotype(anny_model):
    from backend.bodymodels import load_body_model

    female = load_body_model("anny", gender="female")
    assert float(female.base_phenotype[0, female.param_names.index("gender")]) == 1.0
    male = load_body_model("anny", gender="male", phenotype={"gender": 0.2})  # explicit phenotype wins
    assert float(male.base_phenotype[0, male.param_names.index("gender")]) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="gender"):
        load_body_model("anny", gender="robot")
