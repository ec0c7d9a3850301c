"""The demo's backend pieces: the novel preview motion, Procrustes alignment and the accuracy score."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from backend.demo.novel import turning_reversed
from backend.demo.sample_motion import front_camera, sample_motion
from backend.demo.score import joint_errors, procrustes_align
from blender_addon.core.motion import Motion
from blender_addon.core.rotations import rotvec_to_matrix


def test_procrustes_recovers_a_similarity_transform():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(20, 3))
    R = rotvec_to_matrix(np.array([0.3, -1.2, 0.5]))
    pred = 1.7 * gt @ R.T + np.array([1.0, 2.0, -3.0])
    assert np.allclose(procrustes_align(pred, gt), gt, atol=1e-9)
    noisy = pred + rng.normal(0, 0.01, pred.shape)
    assert np.abs(procrustes_align(noisy, gt) - gt).max() < 0.05


def test_front_camera_sees_the_origin_in_the_image_centre():
    cam = front_camera(3, 640, 480)
    p = cam.K[0] @ (cam.R[0] @ np.zeros(3) + cam.t[0])
    assert p[2] > 0 and np.allclose(p[:2] / p[2], [320, 240])
    up = cam.R[0] @ np.array([0.0, 0.0, 1.0])  # world up points to image up (-y in OpenCV)
    assert up[1] < -0.99


def test_novel_motion_is_reversed_and_turning():
    names = ("root", "upperleg01.L", "upperleg01.R", "upperarm01.R", "lowerarm01.R")
    m = sample_motion(names, frames=30, width=64, height=64)
    n = turning_reversed(m, turn_rad=0.8)
    n.validate()
    assert np.allclose(n.rotvec[:, 1:], m.rotvec[::-1, 1:])
    R0 = rotvec_to_matrix(n.rotvec[-1, 0]) @ rotvec_to_matrix(m.rotvec[0, 0]).T  # extra yaw at the end
    assert np.allclose(R0[:, 2], [0, 0, 1], atol=1e-9) and np.arccos(np.clip(R0[0, 0], -1, 1)) == pytest.approx(0.8)
    assert np.allclose(n.transl.mean(0)[2], m.transl.mean(0)[2])


@pytest.mark.slow
def test_score_is_zero_for_the_truth_and_grows_with_error(anny_model, tmp_path):
    m = sample_motion(anny_model.joint_names, frames=6, width=64, height=64)
    same = joint_errors(anny_model, m, m)
    assert same["mpjpe_mm"] < 1e-3 and same["pa_mpjpe_mm"] < 1e-3
    noisy = Motion(**{**m.__dict__, "rotvec": m.rotvec + np.random.default_rng(1).normal(0, 0.1, m.rotvec.shape)})
    worse = joint_errors(anny_model, m, noisy)
    assert worse["mpjpe_mm"] > 10 and worse["pa_mpjpe_mm"] < worse["mpjpe_mm"]
    # the CLI prints the same figures as JSON
    m.save(tmp_path / "t.npz")
    noisy.save(tmp_path / "e.npz")
    out = subprocess.run([sys.executable, "-m", "backend", "demo", "score", "--truth", str(tmp_path / "t.npz"),
                          "--estimate", str(tmp_path / "e.npz")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["mpjpe_mm"] == pytest.approx(worse["mpjpe_mm"], rel=1e-3)
