"""Scan surface samples for fitting: points with normals in metres (meshes sampled by area, clouds subsampled,
cloud normals from the local covariance)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from backend.scan.reader import Scan


def sample_scan(scan: Scan, scale: float, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` points (N, 3) metres and unit normals (N, 3) (cloud normals have an arbitrary sign)."""
    rng = np.random.default_rng(seed)
    verts = scan.vertices * scale
    if scan.is_mesh:
        tri = verts[scan.faces]
        cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        area = np.linalg.norm(cross, axis=1)
        if area.sum() > 0:
            face = rng.choice(len(tri), count, p=area / area.sum())
            u, v = rng.random((2, count))
            flip = u + v > 1
            u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
            t = tri[face]
            pts = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
            return pts, cross[face] / np.maximum(area[face, None], 1e-12)
    keep = rng.choice(len(verts), min(count, len(verts)), replace=False)
    pts = verts[keep]
    if scan.normals is not None and np.any(scan.normals):
        return pts, scan.normals[keep]
    return pts, cloud_normals(pts)


def cloud_normals(points: np.ndarray, k: int = 12) -> np.ndarray:
    """Unit normals (N, 3) of a point cloud (N, 3): the least-variance axis of each point's ``k`` neighbours."""
    _, idx = cKDTree(points).query(points, k=min(k, len(points)))
    nb = points[idx] - points[idx].mean(1, keepdims=True)
    _, vecs = np.linalg.eigh(np.einsum("nki,nkj->nij", nb, nb))
    return vecs[:, :, 0]
