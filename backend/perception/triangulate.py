"""Multi-view triangulation of 2D detections: DLT on undistorted points, and a robust per-point view selection.

Robust rule (per point): among all subsets of at least two views that saw it, keep the largest one whose
reprojection errors are all under ``max_error_px``; ties go to the lower mean error. A view whose detector swapped
left and right, or locked on another person, disagrees with the others by far more than the threshold and is
dropped rather than averaged in.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from backend.perception.calibration import CameraCalib, project, undistort


@dataclasses.dataclass(frozen=True, eq=False)
class Triangulation:
    """N triangulated points seen by V views."""

    points: np.ndarray  # (..., 3) world, metres (nan where not valid)
    valid: np.ndarray  # (...,) bool: a subset of >= min_views views agreed
    views: np.ndarray  # (..., V) bool: the views used
    error_px: np.ndarray  # (..., V) reprojection error in each view, pixels (nan where the view has no detection)

    @property
    def mean_error_px(self) -> np.ndarray:
        """(...,) mean reprojection error over the views used, pixels (nan where not valid)."""
        e = np.where(self.views, self.error_px, 0.0).sum(-1) / np.maximum(self.views.sum(-1), 1)
        return np.where(self.valid, e, np.nan)


def dlt(cams: list[CameraCalib], uv: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Linear triangulation. uv (V, N, 2) pixels, use (V, N) bool -> (N, 3) world points, metres (nan where
    fewer than two views are used). Points are undistorted and normalised first (each row of the DLT system then
    weighs about the same)."""
    V, N = use.shape
    rows = np.zeros((N, 2 * V, 4))
    for v, cam in enumerate(cams):
        xy = undistort(cam, uv[v])  # (N, 2)
        P = np.concatenate([cam.R, cam.t[:, None]], 1)  # (3, 4) normalised camera
        w = use[v].astype(np.float64)[:, None]
        rows[:, 2 * v] = (xy[:, :1] * P[2] - P[0]) * w
        rows[:, 2 * v + 1] = (xy[:, 1:] * P[2] - P[1]) * w
    _, _, vt = np.linalg.svd(rows)
    X = vt[:, -1]
    out = X[:, :3] / np.where(np.abs(X[:, 3:]) > 1e-12, X[:, 3:], np.nan)
    out[use.sum(0) < 2] = np.nan
    return out


def reprojection_errors(cams: list[CameraCalib], X: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """X (N, 3) metres, uv (V, N, 2) pixels -> (V, N) pixel distances (nan where X is nan or behind a camera)."""
    return np.stack([np.linalg.norm(project(cam, np.nan_to_num(X)) - uv[v], axis=-1) +
                     np.where(np.isfinite(X).all(-1), 0.0, np.nan) for v, cam in enumerate(cams)])


def triangulate_robust(cams: list[CameraCalib], uv: np.ndarray, seen: np.ndarray, max_error_px: float = 20.0,
                       min_views: int = 2) -> Triangulation:
    """Robust triangulation of points observed in V views.

    uv (V, ..., 2) pixels (distorted, as detected); seen (V, ...) bool (or confidences > 0). Returns a
    :class:`Triangulation` over the ``...`` shape: for each point the largest subset of views (>= ``min_views``)
    whose reprojection errors are all below ``max_error_px``, ties broken by lower mean error."""
    V = len(cams)
    uv = np.asarray(uv, np.float64)
    seen = np.asarray(seen) > 0
    shape = seen.shape[1:]
    uv_f = uv.reshape(V, -1, 2)
    seen_f = seen.reshape(V, -1) & np.isfinite(uv_f).all(-1)
    N = uv_f.shape[1]
    best_X = np.full((N, 3), np.nan)
    best_n = np.zeros(N, np.int64)
    best_e = np.full(N, np.inf)
    best_views = np.zeros((N, V), bool)
    for k in range(V, min_views - 1, -1):
        for subset in itertools.combinations(range(V), k):
            mask = np.zeros(V, bool)
            mask[list(subset)] = True
            avail = seen_f[mask].all(0) & (best_n <= k)  # every view of the subset saw the point
            if not avail.any():
                continue
            idx = np.nonzero(avail)[0]
            use = np.repeat(mask[:, None], len(idx), 1)
            X = dlt(cams, uv_f[:, idx], use)
            err = reprojection_errors([cams[v] for v in subset], X, uv_f[mask][:, idx])  # (k, n)
            ok = np.isfinite(err).all(0) & (err < max_error_px).all(0)
            mean = np.where(ok, err.mean(0), np.inf)
            better = ok & ((best_n[idx] < k) | (mean < best_e[idx]))
            sel = idx[better]
            best_X[sel], best_n[sel], best_e[sel] = X[better], k, mean[better]
            best_views[sel] = mask
    valid = best_n >= min_views
    best_X[~valid] = np.nan
    err_all = reprojection_errors(cams, best_X, uv_f)
    err_all = np.where(seen_f, err_all, np.nan).T  # (N, V)
    return Triangulation(points=best_X.reshape(shape + (3,)), valid=valid.reshape(shape),
                         views=best_views.reshape(shape + (V,)), error_px=err_all.reshape(shape + (V,)))
