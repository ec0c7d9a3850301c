"""A small software renderer for the accuracy harness: a skin-shaded mesh over a textured background (numpy +
OpenCV painter's algorithm, per-face Lambert shading from per-vertex colours)."""

from __future__ import annotations

import cv2
import numpy as np

from backend.viz import visible_faces


def textured_background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: a soft gradient with blotches and a floor plane, so the person is not on flat colour."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    img[..., 0] = 150 + 60 * (y / height)
    img[..., 1] = 170 - 40 * (x / width)
    img[..., 2] = 120 + 30 * np.sin(x / 57.0)
    noise = cv2.GaussianBlur(rng.normal(0, 40, (height // 8, width // 8, 3)).astype(np.float32), (0, 0), 2)
    img += cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    floor = y > height * 0.78
    img[floor] = img[floor] * 0.6 + np.array([60, 110, 80], np.float32) * 0.4
    for _ in range(25):
        c = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(img, c, int(rng.integers(10, 60)), tuple(float(v) for v in rng.integers(60, 230, 3)), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def vertex_colours(verts: np.ndarray, up: np.ndarray, skin=(120, 150, 200), shirt=(60, 60, 170),
                   trousers=(90, 60, 40)) -> np.ndarray:
    """(V, 3) BGR colours: skin, with a shirt on the torso/upper arms and trousers on the legs (by height)."""
    h = verts @ up
    lo, hi = h.min(), h.max()
    t = (h - lo) / (hi - lo)
    col = np.tile(np.array(skin, np.float32), (len(verts), 1))
    col[(t > 0.45) & (t < 0.80)] = shirt
    col[(t > 0.05) & (t <= 0.45)] = trousers
    col[t <= 0.05] = (30, 30, 30)  # shoes
    return col


def render(background: np.ndarray, verts_cam: np.ndarray, faces: np.ndarray, K: np.ndarray,
           colours: np.ndarray, light=(0.3, -0.5, -0.8)) -> np.ndarray:
    """Mesh in camera coordinates (V, 3) metres drawn over ``background``; far faces first."""
    uv, idx, n, _ = visible_faces(verts_cam, faces, K)
    light = np.asarray(light, np.float64)
    light /= np.linalg.norm(light)
    lambert = 0.35 + 0.65 * np.clip(n[idx] @ light, 0, 1)  # light: unit vector towards the light
    col = colours[faces[idx]].mean(1) * lambert[:, None]
    img = background.copy()
    pts = np.round(uv[faces[idx]] * 4).astype(np.int32)
    for p, c in zip(pts, col):
        cv2.fillConvexPoly(img, p, tuple(float(v) for v in c), lineType=cv2.LINE_AA, shift=2)
    return img
