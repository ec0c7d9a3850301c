"""Closest points on a triangle mesh without spatial-index packages: the nearest vertex's incident triangles are
the candidates (exact for well-shaped meshes whose query points lie near the surface)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def closest_on_mesh(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For points (N, 3): closest points (N, 3), distances (N,), face indices (N,), barycentrics (N, 3) on the
    mesh vertices (V, 3) / faces (F, 3)."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    incident = _incident_faces(f, len(v))  # (V, K), -1 padded
    _, near = cKDTree(v).query(points, k=min(3, len(v)))
    near = near.reshape(len(points), -1)
    cand = incident[near].reshape(len(points), -1)  # (N, 3K)
    valid = cand >= 0
    tri = v[f[np.maximum(cand, 0)]]  # (N, C, 3, 3)
    bary = _clamped_barycentric(tri, points[:, None, :])
    q = np.einsum("nck,nckd->ncd", bary, tri)
    d = np.linalg.norm(q - points[:, None], axis=-1)
    d = np.where(valid, d, np.inf)
    best = d.argmin(1)
    rows = np.arange(len(points))
    return q[rows, best], d[rows, best], cand[rows, best], bary[rows, best]


def _incident_faces(faces: np.ndarray, n: int) -> np.ndarray:
    corner_v = faces.reshape(-1)
    order = np.argsort(corner_v, kind="stable")
    counts = np.bincount(corner_v, minlength=n)
    K = max(1, int(counts.max()))
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(order)) - np.repeat(start, counts)
    out = -np.ones((n, K), np.int64)
    out[corner_v[order], slot] = order // 3
    return out


def _clamped_barycentric(tri: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Barycentrics (..., 3) of the closest point to p on each triangle (..., 3, 3): the plane projection when it
    falls inside, else the closest point on the nearest edge."""
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    v0, v1, v2 = b - a, c - a, p - a
    d00, d01, d11 = (v0 * v0).sum(-1), (v0 * v1).sum(-1), (v1 * v1).sum(-1)
    d20, d21 = (v2 * v0).sum(-1), (v2 * v1).sum(-1)
    den = np.maximum(d00 * d11 - d01 * d01, 1e-20)
    w1 = (d11 * d20 - d01 * d21) / den
    w2 = (d00 * d21 - d01 * d20) / den
    inside = (w1 >= 0) & (w2 >= 0) & (w1 + w2 <= 1)
    out = np.stack([1 - w1 - w2, w1, w2], -1)
    edges = [(a, b, 0, 1), (b, c, 1, 2), (c, a, 2, 0)]
    best_d = np.full(w1.shape, np.inf)
    best = np.zeros_like(out)
    for s, e, i, j in edges:
        seg = e - s
        t = np.clip(((p - s) * seg).sum(-1) / np.maximum((seg * seg).sum(-1), 1e-20), 0, 1)
        q = s + t[..., None] * seg
        d = np.linalg.norm(p - q, axis=-1)
        w = np.zeros_like(out)
        w[..., i], w[..., j] = 1 - t, t
        better = d < best_d
        best = np.where(better[..., None], w, best)
        best_d = np.where(better, d, best_d)
    return np.where(inside[..., None], out, best)
