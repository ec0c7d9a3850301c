"""Calibrated cameras of a multi-view capture: OpenCV pinhole + distortion, read from Qualisys or Pose2Sim files.

A :class:`CameraCalib` maps world points (metres) to pixels: ``x_cam = R X + t``, then OpenCV's radial/tangential
distortion (k1, k2, p1, p2[, k3]) and the intrinsics ``K``. Readers:

- :func:`read_qca` - Qualisys ``.qca.txt`` (XML): focal lengths / centre points in 1/64 pixel, minus the
  ``fov_video`` left/top; ``transform`` x, y, z = camera centre in mm, r11..r33 row-major; Qualisys camera axes are
  flipped about x relative to OpenCV's, so ``R = diag(1, -1, -1) @ M``, ``t = -R C``.
- :func:`read_toml` - Pose2Sim / Anipose ``.toml``: one table per camera with ``name``, ``size`` [w, h],
  ``matrix`` (3x3), ``distortions`` [k1, k2, p1, p2], ``rotation`` (Rodrigues, world -> camera), ``translation``
  (metres).
"""

from __future__ import annotations

import dataclasses
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class CameraCalib:
    """One calibrated view. K (3, 3) pixels; dist (4 | 5,) OpenCV k1, k2, p1, p2[, k3]; R (3, 3) and t (3,) metres:
    world -> camera (OpenCV axes: x right, y down, z forward); image_size (width, height) pixels."""

    name: str
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    image_size: tuple[int, int]

    @property
    def centre(self) -> np.ndarray:
        """(3,) camera centre in world coordinates, metres."""
        return -self.R.T @ self.t

    @property
    def rvec(self) -> np.ndarray:
        return cv2.Rodrigues(np.asarray(self.R, np.float64))[0].reshape(3)


def project(cam: CameraCalib, X: np.ndarray) -> np.ndarray:
    """World points X (..., 3) metres -> pixels (..., 2) with the camera's distortion (nan for points behind it)."""
    X = np.asarray(X, np.float64)
    pts = X.reshape(-1, 3)
    uv, _ = cv2.projectPoints(pts, cam.rvec, np.asarray(cam.t, np.float64), np.asarray(cam.K, np.float64),
                              np.asarray(cam.dist, np.float64))
    uv = uv.reshape(-1, 2)
    z = pts @ cam.R[2] + cam.t[2]
    uv[~(z > 1e-6)] = np.nan
    return uv.reshape(X.shape[:-1] + (2,))


def undistort(cam: CameraCalib, uv: np.ndarray) -> np.ndarray:
    """Pixels (..., 2) -> normalised, undistorted image coordinates (..., 2) (x/z, y/z in the camera)."""
    uv = np.asarray(uv, np.float64)
    flat = uv.reshape(-1, 1, 2)
    out = cv2.undistortPoints(flat, np.asarray(cam.K, np.float64), np.asarray(cam.dist, np.float64))
    return out.reshape(uv.shape)


def read_qca(path: str | Path) -> list[CameraCalib]:
    """Cameras of a Qualisys ``.qca.txt`` export, in file order (named by their ``serial``)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise ValueError(f"{path}: not a readable Qualisys calibration ({exc})") from exc
    cams = []
    flip = np.diag([1.0, -1.0, -1.0])
    for el in root.iter("camera"):
        tr, intr, fov = el.find("transform"), el.find("intrinsic"), el.find("fov_video")
        if tr is None or intr is None or fov is None:
            raise ValueError(f"{path}: camera {el.get('serial')!r} lacks transform/intrinsic/fov_video")
        g = lambda node, k: float(node.get(k, 0.0))  # noqa: E731
        left, top = g(fov, "left"), g(fov, "top")
        fx, fy = g(intr, "focalLengthU") / 64.0, g(intr, "focalLengthV") / 64.0
        cx, cy = g(intr, "centerPointU") / 64.0 - left, g(intr, "centerPointV") / 64.0 - top
        K = np.array([[fx, g(intr, "skew"), cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        dist = np.array([g(intr, "radialDistortion1"), g(intr, "radialDistortion2"), g(intr, "tangentalDistortion1"),
                         g(intr, "tangentalDistortion2"), g(intr, "radialDistortion3")])
        M = np.array([[g(tr, f"r{i}{j}") for j in (1, 2, 3)] for i in (1, 2, 3)])
        C = np.array([g(tr, "x"), g(tr, "y"), g(tr, "z")]) / 1000.0
        R = flip @ M
        size = (int(g(fov, "right") - left + 1), int(g(fov, "bottom") - top + 1))
        cams.append(CameraCalib(str(el.get("serial", f"cam{len(cams) + 1:02d}")), K, dist, R, -R @ C, size))
    if not cams:
        raise ValueError(f"{path}: no <camera> entries in the Qualisys calibration")
    return cams


def read_toml(path: str | Path) -> list[CameraCalib]:
    """Cameras of a Pose2Sim / Anipose calibration ``.toml`` (tables with a ``matrix``; ``metadata`` skipped)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable calibration TOML ({exc})") from exc
    cams = []
    for key, tab in data.items():
        if not isinstance(tab, dict) or "matrix" not in tab:
            continue
        try:
            K = np.asarray(tab["matrix"], np.float64).reshape(3, 3)
            dist = np.asarray(tab.get("distortions", [0, 0, 0, 0]), np.float64).reshape(-1)
            R = cv2.Rodrigues(np.asarray(tab["rotation"], np.float64).reshape(3))[0]
            t = np.asarray(tab["translation"], np.float64).reshape(3)
            size = tuple(int(round(v)) for v in tab["size"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: camera [{key}] is incomplete ({exc}); it needs size, matrix, distortions, "
                             "rotation and translation") from exc
        cams.append(CameraCalib(str(tab.get("name", key)), K, dist, R, t, (size[0], size[1])))
    if not cams:
        raise ValueError(f"{path}: no camera tables (with a 'matrix') in the calibration TOML")
    return cams


def read_calibration(path: str | Path) -> list[CameraCalib]:
    """Cameras from a ``.qca.txt`` / ``.qca`` / ``.xml`` (Qualisys) or ``.toml`` (Pose2Sim, Anipose) file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: calibration file not found")
    name = path.name.lower()
    if name.endswith(".toml"):
        return read_toml(path)
    if name.endswith((".qca.txt", ".qca", ".xml")):
        return read_qca(path)
    raise ValueError(f"{path}: unknown calibration format; use a Qualisys .qca.txt or a Pose2Sim/Anipose .toml")
