"""The real-footage benchmark's pieces: the multi-view reference (association of people across views, the
held-out view never used), PA-MPJPE, flexion angles, the MediaPipe-definition landmark regressor, the
skeleton-consistency check of the reference and the benchmark's 2D floor."""

from __future__ import annotations

import numpy as np

from backend.fitting.evaluation import (MAJOR, Reference, consistent_bones, flexion_angles, heldout_floor,
                                       multiview_reference, pa_errors, score_camera)
from backend.perception.calibration import project
from tests.perception.test_perception_triangulate import ring_cameras


def _person(F: int, x: float, rng) -> np.ndarray:
    """(F, 33, 3) world points of a standing person near x (only the major landmarks matter)."""
    base = np.zeros((33, 3))
    for i, (dx, z) in zip(MAJOR, [(0.2, 1.45), (-0.2, 1.45), (0.25, 1.15), (-0.25, 1.15), (0.3, 0.9), (-0.3, 0.9),
                                  (0.1, 0.95), (-0.1, 0.95), (0.1, 0.5), (-0.1, 0.5), (0.1, 0.08), (-0.1, 0.08)]):
        base[i] = (x, dx, z)
    return base[None] + rng.normal(scale=0.02, size=(F, 33, 3))


def test_reference_associates_people_and_holds_the_view_out():
    rng = np.random.default_rng(0)
    cams = ring_cameras(4, radius=5.0)
    F = 6
    a, b = _person(F, 0.6, rng), _person(F, -0.6, rng)
    people = []
    for v, cam in enumerate(cams):
        arr = np.zeros((F, 3, 33, 3))
        order = (b, a) if v % 2 else (a, b)  # views list the people in different orders
        for k, X in enumerate(order):
            arr[:, k, :, :2] = project(cam, X)
            arr[:, k, :, 2] = 0.9
        people.append(arr)
    tracked = people[0][:, 1].copy()  # view 0 tracks person b
    tracked[..., :2] += rng.normal(scale=2.0, size=tracked[..., :2].shape)
    ref = multiview_reference(cams, 0, tracked, people)
    assert ref.valid.all() and not ref.views[..., 0].any()
    assert np.abs(ref.points - b[:, MAJOR]).max() < 1e-4
    # MediaPipe-like noisy estimate vs an exact one (up to a similarity): the scores separate them.
    est = {"exact": 1.3 * ref.points + 0.5, "noisy": ref.points + rng.normal(scale=0.03, size=ref.points.shape)}
    score = score_camera("cam0", ref, est).summary()
    assert score["exact"]["pa_mpjpe_mm"] < 1e-6 and 20 < score["noisy"]["pa_mpjpe_mm"] < 60
    assert score["exact"]["valid_joints"] == F * 12 and score["exact"]["flexion_deg"] < 1e-6


def test_reference_rejects_a_person_the_other_views_do_not_see():
    rng = np.random.default_rng(1)
    cams = ring_cameras(4, radius=5.0)
    a = _person(4, 0.6, rng)
    people = [np.zeros((4, 3, 33, 3)) for _ in cams]
    for v, cam in enumerate(cams):
        people[v][:, 0, :, :2] = project(cam, a)
        people[v][:, 0, :, 2] = 0.9
    tracked = np.zeros((4, 33, 3))
    tracked[..., :2] = project(cams[0], _person(4, -0.8, rng))  # someone else
    tracked[..., 2] = 0.9
    ref = multiview_reference(cams, 0, tracked, people)
    assert not ref.valid.any() and np.isnan(ref.heldout_px).all()


def test_pa_errors_and_flexion():
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(3, 12, 3))
    valid = np.ones((3, 12), bool)
    th = 0.7
    R = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
    assert np.nanmax(pa_errors(2.0 * pts @ R.T + 1.0, pts, valid)) < 1e-9
    valid[0, :8] = False  # too few points in frame 0
    assert np.isnan(pa_errors(pts, pts, valid)[0]).all()
    arm = np.zeros((1, 12, 3))
    arm[0, 0], arm[0, 2], arm[0, 4] = (0, 0, 0), (0, 0, -0.3), (0.3, 0, -0.3)  # left elbow bent 90 degrees
    arm[0, 1], arm[0, 3], arm[0, 5] = (0, 0, 0), (0, 0, -0.3), (0, 0, -0.6)  # right arm straight
    ang = flexion_angles(arm)
    assert abs(ang[0, 0] - 90) < 1e-6 and abs(ang[0, 1]) < 1e-6


def test_regressor_places_mediapipe_hips_inside_the_joint_centres(anny_model):
    import torch

    from backend.fitting.regressor import mediapipe_regressor

    reg = mediapipe_regressor(anny_model, (23, 24, 11, 12))
    assert reg.shape[0] == 4
    assert np.allclose(reg.sum(1), 1.0) and (reg >= 0).all()
    with torch.no_grad():
        out = anny_model(torch.zeros(1, anny_model.num_joints, 3))
    lm = reg @ out.vertices[0].double().numpy()
    names = list(anny_model.joint_names)
    hips = out.joints[0, [names.index("upperleg01.L"), names.index("upperleg01.R")]].double().numpy()
    assert abs(lm[0, 0] - lm[1, 0]) < abs(hips[0, 0] - hips[1, 0]) - 0.02  # narrower than the hip joints


def test_landmark_rig_poses_regressed_points_like_the_full_model(anny_model, anny_rig):
    """Regressed landmarks in the fit's landmark rig (blended rest point and skin weights) follow the full model's
    regressed vertices: exactly at rest, within about a centimetre under random poses."""
    import torch

    from backend.fitting.regressor import mediapipe_regressor
    from backend.fitting.skeleton import build_landmark_rig, rotvec_to_matrix

    reg = mediapipe_regressor(anny_model, tuple(int(i) for i in MAJOR))
    lr = build_landmark_rig(anny_model, anny_rig, np.ones(anny_rig.num_joints, bool), np.zeros(0, np.int64),
                            regressed=reg)
    rv = torch.as_tensor(np.random.default_rng(0).normal(scale=0.3, size=(3, anny_rig.num_joints, 3)),
                         dtype=torch.float32)
    rv[0] = 0.0
    with torch.no_grad():
        full = np.einsum("lv,fvc->flc", reg, anny_model(rv, torch.zeros(3, 3)).vertices.double().numpy())
        _, pts = lr(rotvec_to_matrix(rv[:, lr.active_index]), torch.zeros(3, 3), lr.rest(None))
    err = np.linalg.norm(pts.double().numpy() - full, axis=-1)
    assert err[0].max() < 1e-4
    assert err[1:].mean() < 0.012 and err[1:].max() < 0.025, err


def _reference(points: np.ndarray) -> Reference:
    F = len(points)
    return Reference(points=points.copy(), valid=np.ones((F, 12), bool), views=np.ones((F, 12, 4), bool),
                     error_px=np.ones((F, 12)), heldout_px=np.ones(F))


def test_consistent_bones_drops_a_mistriangulated_point_only():
    rng = np.random.default_rng(2)
    pts = _person(10, 0.0, rng)[:, MAJOR]
    pts = pts.mean(0) + 0.25 * (pts - pts.mean(0))  # 5 mm of triangulation noise
    pts[4, 4] += (0.0, 0.0, 0.35)  # frame 4: the left wrist triangulated from a mismatched view
    pts[7, 9] += (0.3, 0.2, 0.0)  # frame 7: the right knee
    ref = consistent_bones(_reference(pts))
    dropped = np.argwhere(~ref.valid).tolist()
    assert dropped == [[4, 4], [7, 9]]
    assert np.isnan(ref.points[4, 4]).all() and np.isfinite(ref.points[~np.isnan(ref.points[..., 0])]).all()


def test_heldout_floor_is_exact_for_exact_detections_and_grows_with_their_error():
    rng = np.random.default_rng(3)
    cams = ring_cameras(4, radius=5.0)
    pts = _person(5, 0.3, rng)
    ref = _reference(pts[:, MAJOR])
    tracked = np.zeros((5, 33, 3))
    tracked[..., :2] = project(cams[1], pts)
    assert np.abs(heldout_floor(cams[1], tracked, ref) - ref.points).max() < 1e-6
    tracked[..., :2] += rng.normal(scale=10.0, size=tracked[..., :2].shape)  # 10 px detection noise
    err = pa_errors(heldout_floor(cams[1], tracked, ref), ref.points, ref.valid)
    assert 0.005 < np.nanmean(err) < 0.1
