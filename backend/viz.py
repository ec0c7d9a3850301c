"""Painter's-algorithm mesh drawing in numpy + OpenCV, shared by the contact sheet and the accuracy harness."""

from __future__ import annotations

import numpy as np


def visible_faces(verts_cam: np.ndarray, faces: np.ndarray, K: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The faces to draw, far to near, of a mesh in camera coordinates (V, 3) metres (OpenCV axes).

    Returns (uv (V, 2) pixels, idx (M,) face indices far to near, normals (F, 3) unit, facing (F,) cosine between
    each face normal and the direction to the camera). Back faces and faces within 5 cm of the camera are dropped."""
    z = verts_cam[:, 2]
    uv = verts_cam[:, :2] / np.maximum(z[:, None], 1e-3) * [K[0, 0], K[1, 1]] + K[:2, 2]
    tri = verts_cam[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    view = -tri.mean(1)
    view /= np.linalg.norm(view, axis=1, keepdims=True)
    facing = (n * view).sum(1)
    keep = (facing > 0) & (tri[..., 2].min(1) > 0.05)
    idx = np.nonzero(keep)[0][np.argsort(-tri[keep, :, 2].mean(1))]
    return uv, idx, n, facing
