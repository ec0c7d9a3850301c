"""Fitting on synthetic detections of a known motion (Anny): recovery, camera convention, priors, contact."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from estimation_synthetic import camera, detections, known_motion

from backend.demo.score import procrustes_align
from backend.fitting.contact import detect_contact
from backend.fitting.correspondences import body_correspondences, hand_correspondences, pick_surface_points
from backend.fitting.estimate import to_motion
from backend.fitting.fit import FitSettings, fit_keypoints
from backend.fitting.skeleton import build_landmark_rig, rotvec_to_matrix
from blender_addon.core.motion import Motion


def test_landmark_rig_matches_model_forward(anny_model, anny_rig):
    surface = pick_surface_points(anny_rig)
    corr = [body_correspondences(anny_rig, surface), hand_correspondences(anny_rig, "left", surface)]
    active = np.zeros(anny_rig.num_joints, bool)
    verts = []
    for c in corr:
        active[c.joint[c.joint >= 0]] = True
        verts += [int(v) for v in c.vertex if v >= 0]
    verts = np.array(sorted(set(verts)))
    lr = build_landmark_rig(anny_model, anny_rig, active, verts)
    torch.manual_seed(0)
    rv = torch.zeros(3, anny_model.num_joints, 3)
    rv[:, lr.active_index] = torch.randn(3, lr.num_active, 3) * 0.4
    tr = torch.randn(3, 3) * 0.2
    shape = torch.randn(1, anny_model.num_shape) * 0.2
    out = anny_model(rv, tr, shape=shape)
    joints, vs = lr(rotvec_to_matrix(rv[:, lr.active_index]), tr, lr.rest(shape))
    assert torch.allclose(joints, out.joints[:, lr.active_index], atol=1e-4)
    assert torch.allclose(vs, out.vertices[:, verts], atol=1e-4)
    lr.linearise(shape)
    j_lin, v_lin = lr.rest_linear(shape + 0.01)
    j_true, v_true = lr.rest(shape + 0.01)
    assert (j_lin - j_true).abs().max() < 2e-3 and (v_lin - v_true).abs().max() < 2e-3


def test_surface_points_are_where_they_belong(anny_rig):
    s = pick_surface_points(anny_rig)
    v = anny_rig.template
    for name in ("nose", "ear.L", "ear.R", "heel.L", "toe.L", "heel.R", "toe.R"):
        assert name in s
    for f in range(5):
        assert f"tip{f}.L" in s and f"tip{f}.R" in s
    # Anny: Z up, facing -Y, person's left at +X.
    assert v[s["nose"], 1] < v[s["ear.L"], 1]  # nose in front of the ears
    assert v[s["ear.L"], 0] > 0 > v[s["ear.R"], 0]
    assert v[s["toe.L"], 1] < v[s["heel.L"], 1]  # toes in front of the heel
    assert v[s["heel.L"], 2] < -0.7  # at the bottom of the body


def test_fit_recovers_known_motion(anny_model, anny_rig):
    rv, tr = known_motion(anny_model, anny_rig, frames=16)
    K, R, t = camera(anny_rig)
    kp, true_joints = detections(anny_model, anny_rig, rv, tr, K, R, t, noise_px=0.5)
    # These detections are the model's joint centres projected: fit joint centres (not regressed landmarks).
    fit = fit_keypoints(kp, anny_model, FitSettings(focal=K[0, 0], iters_global=30, iters_body=150,
                                                    iters_contact=0, fit_hands=False, fit_shape=False,
                                                    regressed_landmarks=()))
    # The fitted camera differs from the true one by a translation (the fit's world origin is its own); compare
    # in camera coordinates, where the image pins the geometry down.
    with torch.no_grad():
        out = anny_model(torch.as_tensor(fit.rotvec, dtype=torch.float32),
                         torch.as_tensor(fit.transl, dtype=torch.float32))
    fit_cam = out.joints.numpy() @ fit.cam_R.T + fit.cam_t
    true_cam = true_joints @ R.T + t
    body = body_correspondences(anny_rig)
    major = [int(j) for s, j in zip(body.source_index, body.joint) if s in (11, 12, 13, 14, 15, 16, 23, 24, 25,
                                                                              26, 27, 28)]
    pa = np.mean([np.linalg.norm(procrustes_align(fit_cam[f, major], true_cam[f, major]) - true_cam[f, major], axis=1)
                  .mean() for f in range(len(fit_cam))])
    assert pa < 0.04, f"PA-MPJPE {pa * 1000:.1f} mm"
    assert np.nanmedian(fit.reproj_px) < 3.0
    # Per-frame camera of the motion reproduces the fit's own projections.
    motion = to_motion(fit, kp, anny_model, "synthetic")
    uv = fit_cam[..., :2] / fit_cam[..., 2:] * K[0, 0] + K[:2, 2]
    j = body.joint[list(body.source_index).index(15)]
    k = list(fit.body_index).index(15)
    assert np.allclose(uv[:, j], fit.body_uv[:, k], atol=0.5)
    assert motion.camera.K.shape == (16, 3, 3)


def test_motion_file_round_trip(tmp_path, anny_model, anny_rig):
    rv, tr = known_motion(anny_model, anny_rig, frames=6)
    K, R, t = camera(anny_rig)
    kp, _ = detections(anny_model, anny_rig, rv, tr, K, R, t)
    fit = fit_keypoints(kp, anny_model, FitSettings(iters_global=5, iters_body=5, iters_contact=5))
    motion = to_motion(fit, kp, anny_model, "synthetic", {"reprojection_median_px": 1.0})
    path = motion.save(tmp_path / "m.npz")
    back = Motion.load(path)
    assert back.model == "anny" and back.up_axis == "Z" and back.num_frames == 6
    assert back.joint_names == tuple(anny_model.joint_names)
    assert back.foot_contact.shape == (6, 2) and back.confidence.shape == (6,)
    assert np.all((back.confidence >= 0) & (back.confidence <= 1))
    assert np.allclose(back.rotvec, fit.rotvec) and back.camera.image_size == (1280, 720)


def test_fit_respects_the_elbow_hinge(anny_model, anny_rig):
    """With the detections of a straight arm, the elbow stays straight rather than bending backwards."""
    rv, tr = known_motion(anny_model, anny_rig, frames=4)
    K, R, t = camera(anny_rig)
    kp, _ = detections(anny_model, anny_rig, rv, tr, K, R, t)
    fit = fit_keypoints(kp, anny_model, FitSettings(iters_global=20, iters_body=80, iters_contact=0,
                                                    fit_hands=False))
    from backend.fitting.priors import hinge_axes

    for j, axis, _ in hinge_axes(anny_rig):
        bend = fit.rotvec[:, j] @ axis
        assert np.all(bend > -0.15), f"{anny_rig.joint_names[j]} bends backwards: {bend}"


def test_contact_detection_on_a_step():
    fps = 30.0
    F = 40
    feet = np.zeros((F, 2, 2, 3))
    up = np.array([0.0, 0.0, 1.0])
    feet[:, :, 1, 1] = -0.2  # toe in front of heel
    # Left foot planted; right foot lifts and moves forward between frames 10 and 25, then is planted again.
    for i in range(F):
        s = np.clip((i - 10) / 15, 0, 1)
        feet[i, 1, :, 1] += -0.6 * s
        feet[i, 1, :, 2] += 0.15 * np.sin(np.pi * s)
    contact = detect_contact(feet, up, fps)
    assert contact[:, 0].all()
    assert contact[:8, 1].all() and contact[28:, 1].all()
    assert not contact[14:22, 1].any()


@pytest.mark.parametrize("stride", [1, 2])
def test_fit_handles_missing_frames(anny_model, anny_rig, stride):
    rv, tr = known_motion(anny_model, anny_rig, frames=12)
    K, R, t = camera(anny_rig)
    kp, _ = detections(anny_model, anny_rig, rv, tr, K, R, t)
    kp = kp.subset(np.arange(0, 12, stride))
    found = kp.found.copy()
    found[2] = False
    import dataclasses

    kp = dataclasses.replace(kp, found=found)
    fit = fit_keypoints(kp, anny_model, FitSettings(iters_global=10, iters_body=30, iters_contact=5))
    assert np.all(np.isfinite(fit.rotvec)) and np.all(np.isfinite(fit.transl))
    assert fit.confidence[2] == 0.0 and np.isnan(fit.reproj_px[2])
