"""Calibration readers, distortion-aware projection and robust triangulation (synthetic cameras and the shared
4-camera capture)."""

from __future__ import annotations

import numpy as np
import pytest

from backend.perception.calibration import CameraCalib, project, read_calibration, read_qca, read_toml, undistort
from backend.perception.triangulate import dlt, triangulate_robust


def ring_cameras(n: int = 4, radius: float = 4.0, dist=(-0.05, 0.12, 0.001, -0.0005, 0.0)) -> list[CameraCalib]:
    """n cameras on a circle around the origin at 1.7 m height, looking at (0, 0, 1) (world Z up)."""
    cams = []
    for i in range(n):
        a = 2 * np.pi * i / n
        C = np.array([radius * np.cos(a), radius * np.sin(a), 1.7])
        z = np.array([0, 0, 1.0]) - C
        z /= np.linalg.norm(z)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])
        K = np.array([[1700.0, 0, 544], [0, 1700.0, 960], [0, 0, 1]])
        cams.append(CameraCalib(f"cam{i}", K, np.array(dist), R, -R @ C, (1088, 1920)))
    return cams


def test_synthetic_exact_recovery():
    cams = ring_cameras()
    rng = np.random.default_rng(0)
    X = rng.uniform([-0.5, -0.5, 0.1], [0.5, 0.5, 1.9], (50, 3))
    uv = np.stack([project(c, X) for c in cams])
    assert np.isfinite(uv).all()
    # The distortion is really applied (and undistort inverts it).
    cam = cams[0]
    xc = X @ cam.R.T + cam.t
    pin = xc[:, :2] / xc[:, 2:] * 1700.0 + [544, 960]
    assert np.abs(pin - uv[0]).max() > 1.0
    assert np.allclose(undistort(cam, uv[0]), xc[:, :2] / xc[:, 2:], atol=1e-6)
    tri = triangulate_robust(cams, uv, np.ones(uv.shape[:2], bool))
    assert tri.valid.all() and tri.views.all()
    assert np.abs(tri.points - X).max() < 1e-5
    assert np.nanmax(tri.error_px) < 1e-3
    # Two views are enough; one view is not.
    use = np.zeros((4, 50), bool)
    use[:2] = True
    assert np.abs(dlt(cams, uv, use) - X).max() < 1e-5
    one = triangulate_robust(cams, uv, use & (np.arange(4)[:, None] == 0))
    assert not one.valid.any()


def test_swapped_view_is_dropped():
    """One view's detector swaps left and right: that view is dropped, the other three triangulate exactly;
    a plain 4-view DLT would be off by centimetres."""
    cams = ring_cameras()
    # The person faces view 0 (+x): left/right is along y, across view 2's image too.
    left = np.array([[0.0, 0.2, 1.4], [0.05, 0.25, 1.1], [0.0, 0.1, 0.9], [0.0, 0.1, 0.5]])
    right = left * [1, -1, 1]
    X = np.concatenate([left, right])  # (8, 3): left joints then right joints
    uv = np.stack([project(c, X) for c in cams])
    uv[2] = np.concatenate([uv[2, 4:], uv[2, :4]])  # view 2 swaps left and right
    tri = triangulate_robust(cams, uv, np.ones((4, 8), bool), max_error_px=20.0)
    assert tri.valid.all()
    assert not tri.views[:, 2].any() and tri.views[:, [0, 1, 3]].all()
    assert np.abs(tri.points - X).max() < 1e-5
    naive = dlt(cams, uv, np.ones((4, 8), bool))
    assert np.abs(naive - X).max() > 0.02


def test_toml_roundtrip(tmp_path):
    import cv2

    cams = ring_cameras(2, dist=(-0.05, 0.12, 0.001, -0.0005))
    lines = []
    for c in cams:
        rv = cv2.Rodrigues(c.R)[0].ravel()
        lines += [f"[{c.name}]", f'name = "{c.name}"', f"size = [{c.image_size[0]}.0, {c.image_size[1]}.0]",
                  f"matrix = {[list(r) for r in c.K]}", f"distortions = {list(c.dist)}",
                  f"rotation = {list(rv)}", f"translation = {list(c.t)}", "fisheye = false", ""]
    lines += ["[metadata]", "adjusted = false", "error = 0.0"]
    path = tmp_path / "Calib_board.toml"
    path.write_text("\n".join(lines))
    back = read_calibration(path)
    assert [c.name for c in back] == ["cam0", "cam1"]
    for a, b in zip(cams, back):
        assert np.allclose(a.R, b.R, atol=1e-9) and np.allclose(a.t, b.t) and np.allclose(a.K, b.K)
        assert b.image_size == (1088, 1920)
    bad = tmp_path / "bad.toml"
    bad.write_text('[cam_1]\nmatrix = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]\nname = "x"\n')
    with pytest.raises(ValueError, match="incomplete"):
        read_toml(bad)
    (tmp_path / "calib.yaml").write_text("x")
    with pytest.raises(ValueError, match="unknown calibration format"):
        read_calibration(tmp_path / "calib.yaml")


@pytest.fixture(scope="module")
def multiview(shared_data):
    d = shared_data / "pose2sim_multiperson"
    if not (d / "Calib.qca.txt").is_file():
        pytest.skip(f"{d} is not present")
    return d


def test_qualisys_reader(multiview):
    cams = read_qca(multiview / "Calib.qca.txt")
    assert [c.name for c in cams] == ["cam01", "cam02", "cam03", "cam04"]
    for c in cams:
        assert c.image_size == (1088, 1920)
        assert np.allclose(c.R @ c.R.T, np.eye(3), atol=1e-6) and np.linalg.det(c.R) > 0
        assert 1600 < c.K[0, 0] < 1700 and 0 < c.K[0, 2] < 1088 and 0 < c.K[1, 2] < 1920
        assert 1.5 < c.centre[2] < 2.5  # mounted about 2 m high (world Z up)
        # The capture area (world origin, the force platform) lies in front of every camera, inside its image.
        uv = project(c, np.array([[0.0, 0.0, 1.0]]))[0]
        assert 0 < uv[0] < 1088 and 0 < uv[1] < 1920


def test_real_take_reprojection(multiview, tmp_path):
    """MediaPipe on 12 frames of each view; the person each view tracks may differ, so the robust rule keeps the
    views that agree: the median reprojection error of the kept landmarks is about 10-13 px on 1920-px frames."""
    from backend.perception.detect import detect_keypoints
    from backend.perception.frames import FrameRange

    cams = read_calibration(multiview / "Calib.qca.txt")
    kps = [detect_keypoints(multiview / f"{c.name}.mp4", FrameRange(0, 12)) for c in cams]
    uv = np.stack([k.body[..., :2] for k in kps])  # (4, F, 33, 2)
    seen = np.stack([(k.body[..., 2] > 0.5) & k.found[:, None] for k in kps])
    major = [11, 12, 13, 14, 23, 24, 25, 26]
    tri = triangulate_robust(cams, uv[:, :, major], seen[:, :, major], max_error_px=20.0)
    assert tri.valid.mean() > 0.5
    med = float(np.nanmedian(np.where(tri.views, tri.error_px, np.nan)))
    assert 2.0 < med < 15.0, med
