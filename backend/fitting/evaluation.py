"""Accuracy of monocular 3D against a multi-view reference (the real-footage benchmark of
scripts/eval/eval_multiview.py).

- :func:`multiview_reference`: for the person one camera tracks, the 12 major MediaPipe landmarks triangulated
  robustly from the OTHER calibrated views; each view offers every person it sees (candidates), and the
  combination of candidates whose triangulation reprojects onto the tracked person in the held-out camera wins.
- :func:`consistent_bones`: drops reference points that break the person's skeleton (mis-triangulations).
- :func:`heldout_floor`: the held-out view's own 2D landmarks at the reference's depth (the benchmark's floor).
- :func:`pa_mpjpe` (per-frame similarity alignment, Umeyama) and :func:`flexion_errors` (elbows, knees).
- :func:`model_landmarks`: a fitted body's major landmarks in MediaPipe's definition (a vertex regressor), so the
  fit and MediaPipe's world landmarks are compared like with like.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings

import numpy as np

from backend.fitting.metrics import MAJOR_JOINTS, similarity_transform
from backend.perception.calibration import CameraCalib, project, undistort
from backend.perception.triangulate import triangulate_robust

MAJOR = np.array(MAJOR_JOINTS)  # MediaPipe shoulders, elbows, wrists, hips, knees, ankles (L, R)
# (parent, hinge, child) columns into MAJOR: elbows and knees.
FLEXION = {"left elbow": (0, 2, 4), "right elbow": (1, 3, 5), "left knee": (6, 8, 10), "right knee": (7, 9, 11)}
# Segments between columns of MAJOR whose length a person keeps: upper / lower arms and legs, shoulder and hip
# widths, torso sides.
SEGMENTS = ((0, 2), (2, 4), (1, 3), (3, 5), (6, 8), (8, 10), (7, 9), (9, 11), (0, 1), (6, 7), (0, 6), (1, 7))


@dataclasses.dataclass(frozen=True, eq=False)
class Reference:
    """Reference 3D of the major landmarks (F frames, 12 landmarks) for one held-out camera."""

    points: np.ndarray  # (F, 12, 3) world metres (nan where not valid)
    valid: np.ndarray  # (F, 12) bool
    views: np.ndarray  # (F, 12, V) bool: views used (the held-out one never)
    error_px: np.ndarray  # (F, 12) mean reprojection error over the views used, pixels
    heldout_px: np.ndarray  # (F,) median distance of the reference reprojected into the held-out view to the
    # tracked landmarks there, pixels (nan where no candidate combination matched)


def multiview_reference(cams: list[CameraCalib], heldout: int, tracked: np.ndarray, people: list[np.ndarray],
                        max_error_px: float = 20.0, match_px: float = 60.0, min_conf: float = 0.5,
                        min_views: int = 2) -> Reference:
    """The tracked person's major landmarks triangulated from every view but ``heldout``.

    tracked (F, 33, 3): the held-out view's tracked landmarks (px, confidence); people: per view (F, P, 33, 3)
    every person found (px, visibility; zero rows where none). Per frame, each combination of one candidate (or
    none) per other view is triangulated robustly (:func:`triangulate_robust`); combinations whose reprojection
    into the held-out view lies within ``match_px`` (median over confident landmarks) of the tracked person
    compete: most valid landmarks first, then lower held-out distance. ``min_views``: 3 keeps only points that a
    third view confirmed (two views cannot reveal a swapped or mismatched one)."""
    others = [v for v in range(len(cams)) if v != heldout]
    F = tracked.shape[0]
    P = max(p.shape[1] for p in people)
    options = list(itertools.product(*[range(-1, P)] * len(others)))  # -1: the view offers no one
    uv = np.zeros((len(others), F, len(options), len(MAJOR), 2))
    seen = np.zeros((len(others), F, len(options), len(MAJOR)), bool)
    for k, v in enumerate(others):
        cand = people[v][:, :, MAJOR]  # (F, P, 12, 3)
        for o, combo in enumerate(options):
            if combo[k] >= 0 and combo[k] < people[v].shape[1]:
                uv[k, :, o] = cand[:, combo[k], :, :2]
                seen[k, :, o] = cand[:, combo[k], :, 2] > min_conf
    tri = triangulate_robust([cams[v] for v in others], uv, seen, max_error_px, min_views)
    back = project(cams[heldout], np.nan_to_num(tri.points))  # (F, O, 12, 2)
    conf = tracked[:, MAJOR, 2] > min_conf  # (F, 12)
    d = np.linalg.norm(back - tracked[:, None, MAJOR, :2], axis=-1)
    d = np.where(tri.valid & conf[:, None], d, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames where no combination matches
        dist = np.nanmedian(np.where(np.isfinite(d).sum(-1, keepdims=True) >= 4, d, np.nan), -1)  # (F, O)
    ok = np.isfinite(dist) & (dist < match_px)
    score = np.where(ok, tri.valid.sum(-1) * 1000.0 - dist, -np.inf)
    best = score.argmax(1)
    f = np.arange(F)
    matched = ok[f, best]
    valid = tri.valid[f, best] & matched[:, None]
    views = np.zeros((F, len(MAJOR), len(cams)), bool)
    views[..., others] = tri.views[f, best] & valid[..., None]
    return Reference(points=np.where(valid[..., None], tri.points[f, best], np.nan), valid=valid, views=views,
                     error_px=np.where(valid, tri.mean_error_px[f, best], np.nan),
                     heldout_px=np.where(matched, dist[f, best], np.nan))


def consistent_bones(ref: Reference, tol: float = 0.3, min_frames: int = 5) -> Reference:
    """``ref`` without the points that break the person's skeleton. Per frame, while a segment (:data:`SEGMENTS`)
    between two valid points is more than ``tol`` (fraction) longer or shorter than its median over the take (where
    at least ``min_frames`` frames have it), the point in most such segments (then: in fewest agreeing ones) is
    dropped. A person keeps their segment lengths, so such a point is a mis-triangulation (a mismatched or swapped
    view); the reference drops it for every method alike."""
    a, b = np.array(SEGMENTS).T
    length = np.linalg.norm(ref.points[:, a] - ref.points[:, b], axis=-1)  # (F, S)
    both = ref.valid[:, a] & ref.valid[:, b]
    median = np.array([np.median(length[both[:, k], k]) if both[:, k].sum() >= min_frames else np.nan
                       for k in range(len(SEGMENTS))])
    valid = ref.valid.copy()
    for f in range(len(valid)):
        while True:
            seen = valid[f, a] & valid[f, b] & np.isfinite(median)
            bad = seen & (np.abs(length[f] / np.where(seen, median, 1.0) - 1) > tol)
            if not bad.any():
                break
            n_bad, n_good = np.zeros(len(MAJOR)), np.zeros(len(MAJOR))
            np.add.at(n_bad, np.r_[a[bad], b[bad]], 1)
            np.add.at(n_good, np.r_[a[seen & ~bad], b[seen & ~bad]], 1)
            valid[f, np.argmax(n_bad * 100 - n_good)] = False
    return dataclasses.replace(ref, points=np.where(valid[..., None], ref.points, np.nan), valid=valid,
                               views=ref.views & valid[..., None], error_px=np.where(valid, ref.error_px, np.nan))


def heldout_floor(cam: CameraCalib, tracked: np.ndarray, ref: Reference) -> np.ndarray:
    """(F, 12, 3) world metres: the held-out view's own detected major landmarks (``tracked`` (F, 33, 3) px) placed
    on their viewing rays at the reference's depth. A method that follows this view's 2D detections keeps this
    error even with perfect depth: the benchmark's floor for monocular methods."""
    rays = undistort(cam, tracked[:, MAJOR, :2])  # (F, 12, 2) x/z, y/z
    depth = (ref.points @ cam.R.T + cam.t)[..., 2:]  # (F, 12, 1), nan where the reference is not valid
    X_cam = np.concatenate([rays, np.ones_like(rays[..., :1])], -1) * depth
    return (X_cam - cam.t) @ cam.R


def pa_errors(est: np.ndarray, ref: np.ndarray, valid: np.ndarray, min_points: int = 6) -> np.ndarray:
    """Per-landmark error (F, N) in metres after a per-frame similarity alignment of ``est`` (F, N, 3) onto ``ref``
    (F, N, 3) over the ``valid`` (F, N) points (nan where not valid or the frame has fewer than ``min_points``)."""
    out = np.full(valid.shape, np.nan)
    for i in range(len(est)):
        m = valid[i] & np.isfinite(est[i]).all(-1) & np.isfinite(ref[i]).all(-1)
        if m.sum() < min_points:
            continue
        s, R, t = similarity_transform(est[i, m], ref[i, m])
        out[i, m] = np.linalg.norm(s * est[i, m] @ R.T + t - ref[i, m], axis=-1)
    return out


def flexion_angles(pts: np.ndarray) -> np.ndarray:
    """(F, 12, 3) major landmarks -> (F, 4) flexion of the elbows and knees (180 - inner angle), degrees."""
    out = []
    for a, b, c in FLEXION.values():
        u, w = pts[:, a] - pts[:, b], pts[:, c] - pts[:, b]
        cos = (u * w).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(w, axis=-1), 1e-9)
        out.append(180.0 - np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return np.stack(out, 1)


def flexion_errors(est: np.ndarray, ref: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(F, 4) absolute flexion-angle errors in degrees (nan where a reference point of the angle is not valid)."""
    ok = np.stack([valid[:, list(abc)].all(1) for abc in FLEXION.values()], 1)
    return np.where(ok, np.abs(flexion_angles(est) - flexion_angles(ref)), np.nan)


def model_landmarks(model, rotvec: np.ndarray, transl: np.ndarray, shape: np.ndarray, regressor: np.ndarray,
                    joints: np.ndarray | None = None, batch: int = 50) -> tuple[np.ndarray, np.ndarray | None]:
    """Landmarks of a fitted body, metres, model axes: (``regressor`` (L, V) applied to the posed vertices (F, L, 3),
    ``joints`` (L, J) applied to the posed joints (F, L, 3) or None) for rotvec (F, J, 3), transl (F, 3),
    shape (S,)."""
    import torch

    out, out_j = [], []
    reg = torch.as_tensor(regressor, dtype=torch.float32)
    jw = torch.as_tensor(joints, dtype=torch.float32) if joints is not None else None
    with torch.no_grad():
        for i in range(0, len(rotvec), batch):
            rv = torch.as_tensor(rotvec[i:i + batch], dtype=torch.float32)
            tr = torch.as_tensor(transl[i:i + batch], dtype=torch.float32)
            sh = torch.as_tensor(np.asarray(shape), dtype=torch.float32).reshape(1, -1).expand(len(rv), -1)
            res = model(rv, tr, shape=sh if sh.shape[1] else None)
            out.append(torch.einsum("lv,fvc->flc", reg, res.vertices.float()).numpy())
            if jw is not None:
                out_j.append(torch.einsum("lj,fjc->flc", jw, res.joints.float()).numpy())
    return (np.concatenate(out).astype(np.float64),
            np.concatenate(out_j).astype(np.float64) if jw is not None else None)


def summarise(err_m: np.ndarray, angle_deg: np.ndarray) -> dict:
    """{"pa_mpjpe_mm", "flexion_deg", "valid_joints", "frames"} of per-landmark errors (F, N) m and angles (F, 4)."""
    ok = np.isfinite(err_m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # landmarks never valid
        per = np.nanmean(err_m, 0) * 1000
    return {"pa_mpjpe_mm": float(np.nanmean(err_m) * 1000) if ok.any() else float("nan"),
            "per_landmark_mm": {int(i): round(float(e), 1) for i, e in zip(MAJOR, per)},
            "flexion_deg": float(np.nanmean(angle_deg)) if np.isfinite(angle_deg).any() else float("nan"),
            "valid_joints": int(ok.sum()), "frames": int(ok.any(1).sum())}


@dataclasses.dataclass(frozen=True, eq=False)
class CameraScore:
    """One held-out camera: per-landmark errors (F, 12) m and flexion errors (F, 4) deg of each method."""

    name: str
    reference: Reference
    errors: dict  # method -> (F, 12) metres after per-frame similarity alignment
    angles: dict  # method -> (F, 4) degrees

    def summary(self) -> dict:
        return {m: summarise(self.errors[m], self.angles[m]) for m in self.errors}


def score_camera(name: str, reference: Reference, estimates: dict) -> CameraScore:
    """Scores of ``estimates`` {method: (F, 12, 3) major landmarks in any frame} against ``reference``; a frame
    counts for every method only where all of them have finite points (the same frames and landmarks)."""
    valid = reference.valid.copy()
    for pts in estimates.values():
        valid &= np.isfinite(pts).all(-1)
    errors = {m: pa_errors(p, reference.points, valid) for m, p in estimates.items()}
    common = np.all([np.isfinite(e) for e in errors.values()], 0)
    errors = {m: np.where(common, e, np.nan) for m, e in errors.items()}
    angles = {m: flexion_errors(p, reference.points, common) for m, p in estimates.items()}
    return CameraScore(name, reference, errors, angles)


def pooled(scores: list[CameraScore]) -> dict:
    """Summary over all cameras' frames together."""
    methods = scores[0].errors.keys()
    return {m: summarise(np.concatenate([s.errors[m] for s in scores]), np.concatenate([s.angles[m] for s in scores]))
            for m in methods}
