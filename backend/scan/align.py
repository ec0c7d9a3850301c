"""Global alignment of a body model's rest surface to a scan: each principal axis in turn is tried as the
long axis, several starts turn about it (facing and the up sign), and a short similarity ICP from each start keeps the best.

All in metres; rotations map model coordinates into scan coordinates (``x_scan = s R x_model + t``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree

from backend.fitting.metrics import similarity_transform


@dataclasses.dataclass(frozen=True)
class Alignment:
    scale: float
    R: np.ndarray  # (3, 3) model -> scan
    t: np.ndarray  # (3,) metres
    chamfer: float  # symmetric mean distance, metres (robustly trimmed)


def principal_axes(points: np.ndarray) -> np.ndarray:
    """(3, 3) columns: unit principal axes of ``points`` (N, 3), largest variance first, right-handed."""
    c = points - points.mean(0)
    _, vecs = np.linalg.eigh(c.T @ c)
    axes = vecs[:, ::-1].copy()
    if np.linalg.det(axes) < 0:
        axes[:, 2] *= -1
    return axes


def start_rotations(scan_pts: np.ndarray, model_pts: np.ndarray, turns: int = 8, axes: int = 3
                    ) -> list[np.ndarray]:
    """Candidate model -> scan rotations: the model's long axis onto each of the scan's first ``axes`` principal
    axes (both signs; a posed body's longest axis need not be its height), then ``turns`` rotations about it.
    Returns a list of (3, 3)."""
    S, T = principal_axes(scan_pts), principal_axes(model_pts)
    out = []
    for k_axis in range(axes):
        Sk = np.roll(S, -k_axis, axis=1)  # this scan axis first, still right-handed (a cyclic shift)
        for flip in (1.0, -1.0):
            D = np.diag([flip, flip, 1.0])  # a half turn about the third axis flips the long axis, stays proper
            base = Sk @ D @ T.T
            up = Sk[:, 0] * flip
            for k in range(turns):
                out.append(_axis_angle(up, 2 * np.pi * k / turns) @ base)
    return out


def similarity_icp(model_pts: np.ndarray, scan_pts: np.ndarray, scan_tree: cKDTree, R: np.ndarray,
                   iterations: int = 15, trim: float = 0.8, fit_scale: bool = True) -> Alignment:
    """Similarity ICP from rotation ``R`` (model centroid onto scan centroid), both directions of closest points,
    the worst ``1 - trim`` of pairs dropped. model_pts (M, 3), scan_pts (N, 3) metres."""
    s = 1.0
    t = scan_pts.mean(0) - R @ model_pts.mean(0)
    for _ in range(iterations):
        x = s * model_pts @ R.T + t
        d1, i1 = scan_tree.query(x)
        d2, i2 = cKDTree(x).query(scan_pts)
        k1, k2 = d1 <= np.quantile(d1, trim), d2 <= np.quantile(d2, trim)
        src = np.concatenate([model_pts[k1], model_pts[i2[k2]]])
        dst = np.concatenate([scan_pts[i1[k1]], scan_pts[k2]])
        s_new, R, t = similarity_transform(src, dst)
        s = s_new if fit_scale else 1.0
        if not fit_scale:
            t = dst.mean(0) - R @ src.mean(0)
    x = s * model_pts @ R.T + t
    d1, _ = scan_tree.query(x)
    d2, _ = cKDTree(x).query(scan_pts)
    chamfer = 0.5 * (_trimmed_mean(d1, trim) + _trimmed_mean(d2, trim))
    return Alignment(float(s), R, t, float(chamfer))


def align_global(model_pts: np.ndarray, scan_pts: np.ndarray, keep: int = 2, seed: int = 0) -> list[Alignment]:
    """The ``keep`` best similarity alignments (lowest Chamfer first) of ``model_pts`` (M, 3) onto ``scan_pts``
    (N, 3) from :func:`start_rotations`. Subsamples both to at most 1,500 / 3,000 points."""
    rng = np.random.default_rng(seed)
    m = model_pts[rng.choice(len(model_pts), min(1500, len(model_pts)), replace=False)]
    p = scan_pts[rng.choice(len(scan_pts), min(3000, len(scan_pts)), replace=False)]
    tree = cKDTree(p)
    results = [similarity_icp(m, p, tree, R) for R in start_rotations(p, m)]
    results.sort(key=lambda a: a.chamfer)
    return _distinct(results, keep)


def _distinct(results: list[Alignment], keep: int) -> list[Alignment]:
    """The best results whose rotations differ by more than 30 degrees."""
    out: list[Alignment] = []
    for a in results:
        if all(np.arccos(np.clip((np.trace(a.R @ b.R.T) - 1) / 2, -1, 1)) > np.radians(30) for b in out):
            out.append(a)
        if len(out) == keep:
            break
    return out


def _trimmed_mean(d: np.ndarray, trim: float) -> float:
    return float(np.mean(np.sort(d)[: max(1, int(len(d) * trim))]))


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K
