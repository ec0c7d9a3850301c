"""Hand-only (MANO) and face-only (FLAME) fits on synthetic detections, with the SYNTHETIC model files of
tests/bodymodels (same formats as the released models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.fitting.correspondences import (FACE_POINTS, face_correspondences, hand_correspondences, model_axes,
                                             pick_surface_points)
from backend.fitting.fit import FitSettings, body_part, fit_keypoints
from backend.perception.keypoints import Keypoints, empty_keypoints
from blender_addon.core.rotations import rotvec_to_matrix


def _project(points, R, t, K):
    cam = points @ R.T + t
    return cam[..., :2] / cam[..., 2:] * K[0, 0] + K[:2, 2]


def _setup(model, distance):
    rig = model.rig_spec()
    left, up, fwd = model_axes(rig)
    R = np.stack([left, -up, -fwd])
    K = np.array([[900.0, 0, 640], [0, 900.0, 360], [0, 0, 1]])
    centre = rig.template.mean(0)
    t = np.array([0, 0, distance]) - R @ centre
    return rig, R, t, K


def _pose(model, rig, F, finger_curl: float):
    rv = np.zeros((F, model.num_joints, 3))
    s = np.linspace(0, 1, F)
    _, up, fwd = model_axes(rig)
    rv[:, 0] = (up * 0.4 * s[:, None]) + fwd * 0.2 * np.sin(np.pi * s)[:, None]
    rv[:, 1:] = np.array([1.0, 0.0, 0.0]) * (finger_curl * np.sin(np.pi * s))[:, None, None]
    return rv


def test_mano_hand_only_fit(synthetic_model_dir):
    from backend.bodymodels import load_body_model

    model = load_body_model("mano", model_dir=synthetic_model_dir)
    rig, R, t, K = _setup(model, 0.45)
    assert body_part(rig, pick_surface_points(rig)) == "hand"
    F = 10
    rv = _pose(model, rig, F, 0.3)
    with torch.no_grad():
        out = model(torch.as_tensor(rv, dtype=torch.float32))
    J, V = out.joints.numpy().astype(float), out.vertices.numpy().astype(float)
    corr = hand_correspondences(rig, "right")
    pts = np.where((corr.joint >= 0)[None, :, None], J[:, np.maximum(corr.joint, 0)], V[:, np.maximum(corr.vertex, 0)])
    arr = empty_keypoints(F, 30.0, (1280, 720), (0, 0))
    arr["frame_indices"] = np.arange(F)
    arr["found"][:] = True
    arr["right_hand"][:, corr.source_index, :2] = _project(pts, R, t, K)
    arr["right_hand"][:, corr.source_index, 2] = 1.0
    kp = Keypoints(fps=30.0, image_size=(1280, 720), **arr)
    fit = fit_keypoints(kp, model, FitSettings(focal=900.0, iters_global=40, iters_body=150, iters_contact=0))
    assert fit.part == "hand"
    assert np.nanmedian(fit.reproj_px) < 2.0
    # Fitted joints in camera space, compared after removing the wrist position (depth is ambiguous).
    with torch.no_grad():
        fo = model(torch.as_tensor(fit.rotvec, dtype=torch.float32), torch.as_tensor(fit.transl, dtype=torch.float32),
                   shape=torch.as_tensor(fit.shape, dtype=torch.float32)[None])
    est = fo.joints.numpy() @ fit.cam_R.T + fit.cam_t
    true = J @ R.T + t
    err = np.linalg.norm((est - est[:, :1]) - (true - true[:, :1]), axis=-1).mean()
    assert err < 0.01, f"{err * 1000:.1f} mm"


def test_flame_face_only_fit(synthetic_model_dir):
    from backend.bodymodels import load_body_model

    model = load_body_model("flame", model_dir=synthetic_model_dir)
    rig, R, t, K = _setup(model, 0.6)
    surface = pick_surface_points(rig)
    assert body_part(rig, surface) == "face"
    corr = face_correspondences(rig, surface)
    assert len(corr.source_index) >= 4, corr.names
    F = 8
    rv = np.zeros((F, model.num_joints, 3))
    _, up, _ = model_axes(rig)
    rv[:, 0] = up * np.linspace(-0.3, 0.3, F)[:, None]
    with torch.no_grad():
        out = model(torch.as_tensor(rv, dtype=torch.float32))
    J, V = out.joints.numpy().astype(float), out.vertices.numpy().astype(float)
    pts = np.where((corr.joint >= 0)[None, :, None], J[:, np.maximum(corr.joint, 0)], V[:, np.maximum(corr.vertex, 0)])
    uv = _project(pts, R, t, K)
    arr = empty_keypoints(F, 30.0, (1280, 720), (0, 0))
    arr["frame_indices"] = np.arange(F)
    arr["found"][:] = True
    for k, src in enumerate(corr.source_index):  # every face-mesh index a derived point averages gets its position
        for idx in FACE_POINTS[src][1]:
            arr["face"][:, idx, :2] = uv[:, k]
            arr["face"][:, idx, 2] = 1.0
    kp = Keypoints(fps=30.0, image_size=(1280, 720), **arr)
    fit = fit_keypoints(kp, model, FitSettings(focal=900.0, iters_global=40, iters_body=100, iters_contact=0,
                                               fit_shape=False))
    assert fit.part == "face" and np.nanmedian(fit.reproj_px) < 3.0
    # Head rotation recovered in camera space.
    est_R = fit.cam_R @ rotvec_to_matrix(fit.rotvec[:, 0])
    true_R = R @ rotvec_to_matrix(rv[:, 0])
    cos = (np.trace(np.transpose(est_R, (0, 2, 1)) @ true_R, axis1=1, axis2=2) - 1) / 2
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    assert np.median(angle) < 8.0, angle


def test_close_up_detectors_run_on_a_blank_frame():
    """The close-up detection modes build real MediaPipe graphs and report nothing on an empty image."""
    from backend.perception.detect import CloseUpDetector, DetectSettings

    for mode in ("hands", "face"):
        det = CloseUpDetector(DetectSettings(mode=mode))
        try:
            assert det.process(np.full((240, 320, 3), 127, np.uint8)) is None
        finally:
            det.close()
    with pytest.raises(ValueError, match="unknown detection mode"):
        CloseUpDetector(DetectSettings(mode="feet"))


def test_smplx_body_fit(synthetic_model_dir):
    """The same body fit runs on an SMPL-X model (Y up; joints matched by SMPL names)."""
    from estimation_synthetic import camera, detections, known_motion

    from backend.bodymodels import load_body_model
    from backend.fitting.estimate import to_motion
    from backend.fitting.priors import hinge_axes

    model = load_body_model("smplx", model_dir=synthetic_model_dir)
    rig = model.rig_spec()
    assert len(hinge_axes(rig)) == 4
    rv, tr = known_motion(model, rig, frames=24)  # an arm swing per 0.8 s at 30 fps
    K, R, t = camera(rig, distance=3.0)
    kp, true_joints = detections(model, rig, rv, tr, K, R, t)
    # The synthetic model's pose correctives move fingertip vertices by centimetres; fit the body joints only.
    fit = fit_keypoints(kp, model, FitSettings(focal=K[0, 0], iters_global=30, iters_body=150, iters_contact=0,
                                               fit_hands=False))
    from backend.fitting.metrics import fit_metrics

    m = fit_metrics(fit.body_uv, fit.body_index, fit.detections, kp.found)  # the major joints
    assert fit.part == "body" and m["reprojection_median_px"] < 2.0 and m["reprojection_p90_px"] < 5.0, m
    motion = to_motion(fit, kp, model, "synthetic")
    assert motion.up_axis == "Y" and motion.rotvec.shape == (24, 55, 3) and motion.betas.shape == (10,)
