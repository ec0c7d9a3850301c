"""Quality numbers of a fit against its detections: reprojection error and jitter (2D, pixels)."""

from __future__ import annotations

import numpy as np

MAJOR_JOINTS = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)  # MediaPipe shoulders..ankles


def _major(body_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the major body joints among body_index; all columns when there are none (hand, face fits)."""
    cols = np.array([k for k, i in enumerate(body_index) if int(i) in MAJOR_JOINTS], np.int64)
    if not len(cols):
        cols = np.arange(len(body_index))
    return cols, body_index[cols]


def reprojection_px(body_uv: np.ndarray, body_index: np.ndarray, detections: np.ndarray, found: np.ndarray,
                    min_conf: float = 0.5) -> np.ndarray:
    """Errors (N,) in pixels between projected model joints body_uv (F, L, 2) and detected MediaPipe pose
    detections (F, 33, 3), over the major joints detected with confidence >= min_conf."""
    cols, mp = _major(body_index)
    det = detections[:, mp]
    good = (det[..., 2] >= min_conf) & found[:, None]
    return np.linalg.norm(body_uv[:, cols] - det[..., :2], axis=-1)[good]


def jitter_px(track: np.ndarray, valid: np.ndarray) -> float:
    """Mean acceleration |p[t+1] - 2 p[t] + p[t-1]| in pixels/frame^2 of tracks (F, K, 2) over triples of frames
    where ``valid`` (F, K) holds for all three."""
    if track.shape[0] < 3:
        return float("nan")
    acc = np.linalg.norm(track[2:] - 2 * track[1:-1] + track[:-2], axis=-1)
    ok = valid[2:] & valid[1:-1] & valid[:-2]
    return float(acc[ok].mean()) if ok.any() else float("nan")


def fit_metrics(body_uv: np.ndarray, body_index: np.ndarray, detections: np.ndarray, found: np.ndarray,
                min_conf: float = 0.5) -> dict:
    """Median reprojection (px) and jitter of the fit vs the raw detections on the major joints."""
    cols, mp = _major(body_index)
    det = detections[:, mp]
    valid = (det[..., 2] >= min_conf) & found[:, None]
    err = reprojection_px(body_uv, body_index, detections, found, min_conf)
    raw = jitter_px(det[..., :2], valid)
    fit = jitter_px(body_uv[:, cols], valid)
    return {"reprojection_median_px": float(np.median(err)) if err.size else float("nan"),
            "reprojection_p90_px": float(np.percentile(err, 90)) if err.size else float("nan"),
            "jitter_detections_px": raw, "jitter_fit_px": fit,
            "jitter_ratio": raw / fit if fit > 0 else float("nan"),
            "found_fraction": float(np.mean(found)) if found.size else 0.0}


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The similarity x -> scale * R x + t that best maps points ``src`` (N, 3) onto ``dst`` (N, 3) in the least-
    squares sense (Umeyama, reflections excluded). Returns (scale, R (3, 3), t (3,))."""
    ms, md = src.mean(0), dst.mean(0)
    S, D = src - ms, dst - md
    u, s, vt = np.linalg.svd(D.T @ S)
    sign = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    R = u @ sign @ vt
    scale = float((s * np.diag(sign)).sum() / max((S**2).sum(), 1e-12))
    return scale, R, md - scale * R @ ms
