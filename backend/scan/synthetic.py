"""Synthetic scans with known answers, for the tests and the benchmark: a body model at a random pose and shape,
surface-sampled with noise, a hole, a random rigid motion and a unit change (optionally clothing-like offsets)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from backend.bodymodels.base import BodyModel
from backend.bodymodels.detail import vertex_normals
from backend.scan.fit import FOLLOWERS, model_rig

# name fragment -> pose spread (radians, per axis) of the random poses
POSE_SPREAD = (("upperarm01", 0.45), ("shoulder01", 0.15), ("lowerarm01", 0.5), ("upperleg01", 0.3),
               ("lowerleg01", 0.35), ("spine", 0.12), ("neck", 0.15), ("head", 0.2), ("foot", 0.2),
               ("shoulder", 0.4), ("elbow", 0.5), ("hip", 0.3), ("knee", 0.35), ("collar", 0.1))


@dataclasses.dataclass(frozen=True, eq=False)
class SyntheticScan:
    points: np.ndarray  # (N, 3) in the scan's units and axes
    normals: np.ndarray  # (N, 3)
    truth_vertices: np.ndarray  # (V, 3) the true body in the scan's units and axes (before clothing)
    scale: float  # metres per scan unit
    rotvec: np.ndarray  # (J, 3) true pose (model axes)
    shape: np.ndarray  # (S,)
    rotation: np.ndarray  # (3, 3) model axes -> scan axes


def random_pose(model: BodyModel, rng: np.random.Generator, spread: float = 1.0) -> np.ndarray:
    """(J, 3) rotation vectors: body joints at random within :data:`POSE_SPREAD`; MANO fingers bend."""
    names = model.joint_names
    rv = np.zeros((len(names), 3))
    for j, n in enumerate(names):
        if j == 0:
            continue
        if model.name == "mano":
            rv[j] = rng.normal(0, 0.25, 3) * np.array([0.3, 0.3, 1.0])
            continue
        if any(f in n.lower() for f in FOLLOWERS):
            continue
        s = next((v for frag, v in POSE_SPREAD if frag in n), 0.0)
        rv[j] = rng.normal(0, s * spread, 3)
    knee = [j for j, n in enumerate(names) if "lowerleg01" in n or "knee" in n]
    for j in knee:  # knees bend one way only (roughly): no hyper-extension
        rv[j] = np.abs(rv[j]) * np.array([1.0, 0.1, 0.1]) * (1 if model.name == "anny" else 1)
    return rv


def make_scan(model: BodyModel, seed: int, noise_m: float = 0.003, points: int = 30000, hole: bool = True,
              clothed: bool = False, unit_scale: float | None = None, on_vertices: bool = False) -> SyntheticScan:
    """A synthetic scan of ``model``: random pose and shape, ``noise_m`` Gaussian noise, a hole (a 12 cm ball
    of surface removed), clothing-like offsets on the torso and legs (``clothed``), a random rigid motion and
    units (metres, cm or mm, or ``unit_scale`` metres per unit). ``on_vertices``: the points are the model's
    vertices (each drawn ``points / V`` times, each draw with its own noise) rather than samples of its faces, for
    models whose faces are not a surface (the synthetic test files: strips of chords through tubes)."""
    rng = np.random.default_rng(seed)
    rv = random_pose(model, rng)
    S = model.num_shape
    shape = (rng.uniform(-0.3, 0.3, S) if model.name == "anny" else rng.normal(0, 1.0, S)).astype(np.float32)
    with torch.no_grad():
        out = model(torch.as_tensor(rv, dtype=torch.float32)[None], shape=torch.as_tensor(shape)[None] if S
                    else None)
    verts = out.vertices[0].double().numpy()
    faces = model.faces.numpy()
    body = verts.copy()
    if clothed:
        verts = verts + _clothing(model, verts, faces)
    if on_vertices:
        idx = rng.choice(len(verts), points)
        pts, nrm = verts[idx], np.zeros((points, 3))  # no normals: the fit estimates them from the cloud
    else:
        pts, nrm = _sample(verts, faces, points, rng)
    if hole:
        centre = pts[rng.integers(len(pts))]
        keep = np.linalg.norm(pts - centre, axis=1) > (0.01 if model.name == "mano" else 0.06)
        pts, nrm = pts[keep], nrm[keep]
    pts = pts + rng.normal(0, noise_m, pts.shape)
    R = Rotation.random(random_state=seed).as_matrix()
    t = rng.uniform(-2, 2, 3)
    scale = unit_scale if unit_scale is not None else float(rng.choice([1.0, 0.01, 0.001]))
    move = lambda x: (x @ R.T + t) / scale  # noqa: E731
    return SyntheticScan(move(pts), nrm @ R.T, move(body), scale, rv, shape, R)


def _sample(verts: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator):
    tri = verts[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(cross, axis=1)
    f = rng.choice(len(faces), count, p=area / area.sum())
    u, v = rng.random((2, count))
    flip = u + v > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    t = tri[f]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0]), \
        cross[f] / np.maximum(area[f, None], 1e-12)


def _clothing(model: BodyModel, verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) outward offsets of 1-3 cm on vertices skinned to the torso and legs (a loose shirt and trousers)."""
    rig_w = model_rig(model).skin_weights
    names = model.joint_names
    parts = [j for j, n in enumerate(names) if any(k in n for k in ("spine", "pelvis", "upperleg", "lowerleg",
                                                                      "hip", "knee", "root"))]
    w = rig_w[:, parts].sum(1)
    n = vertex_normals(verts, faces)
    ripple = 0.01 + 0.01 * (1 + np.sin(verts[:, 0] * 40) * np.cos(verts[:, 1] * 30))
    return n * (w * ripple)[:, None]
