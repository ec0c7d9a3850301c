"""Quality measures of generated bodies: closedness, floor contact, self-intersection at rest.

Self-intersection: every mesh edge is tested as a segment against the triangles near it (a k-d tree of face
centroids, faces sharing a vertex with the edge skipped; Moller-Trumbore); a face counts as intersecting when an
edge pierces it. The fraction of such faces is compared between a plain and a detailed body.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


NEIGHBOURS = 48  # candidate faces per edge (nearest centroids within reach)


def unique_edges(faces: np.ndarray) -> np.ndarray:
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return np.unique(e, axis=0)


def boundary_edge_count(faces: np.ndarray) -> int:
    """Edges used by exactly one triangle (0 for a closed mesh)."""
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    return int((counts == 1).sum())


def _segment_hits(p0: np.ndarray, p1: np.ndarray, tri: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """(N,) bool: segment p0->p1 (N, 3) crosses triangle tri (N, 3, 3) strictly inside."""
    d = p1 - p0
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    h = np.cross(d, e2)
    a = (e1 * h).sum(1)
    ok = np.abs(a) > eps
    f = np.where(ok, 1.0 / np.where(ok, a, 1.0), 0.0)
    s = p0 - tri[:, 0]
    u = f * (s * h).sum(1)
    q = np.cross(s, e1)
    v = f * (d * q).sum(1)
    t = f * (e2 * q).sum(1)
    return ok & (u > 0) & (v > 0) & (u + v < 1) & (t > 0) & (t < 1)


def _test_pairs(verts, edges, faces, ei, fi, hit) -> None:
    e, fc = edges[ei], faces[fi]
    shares = (fc[:, :, None] == e[:, None, :]).any(axis=(1, 2))
    ei, fi = ei[~shares], fi[~shares]
    pierced = _segment_hits(verts[edges[ei, 0]], verts[edges[ei, 1]], verts[faces[fi]])
    hit[fi[pierced]] = True


def _pairs(lists, offset: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.fromiter((len(x) for x in lists), np.int64, count=len(lists))
    a = np.repeat(np.arange(offset, offset + len(lists)), counts)
    b = np.fromiter((f for x in lists for f in x), np.int64, count=int(counts.sum()))
    return a, b


def intersecting_faces(verts: np.ndarray, faces: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """(F,) bool: faces pierced by an edge of the same mesh (not one of their own edges or neighbours).

    Candidates: the nearest faces of ordinary size (circumradius up to the 98th percentile) within reach of each
    edge's midpoint (at most NEIGHBOURS); the few larger faces are tested against every edge near them."""
    verts = np.asarray(verts, np.float64)
    faces = np.asarray(faces, np.int64)
    edges = unique_edges(faces)
    centroids = verts[faces].mean(1)
    radii = np.linalg.norm(verts[faces] - centroids[:, None], axis=2).max(1)
    r_small = float(np.quantile(radii, 0.98))
    small = np.nonzero(radii <= r_small)[0]
    mid = verts[edges].mean(1)
    half = 0.5 * np.linalg.norm(verts[edges[:, 1]] - verts[edges[:, 0]], axis=1)
    hit = np.zeros(len(faces), bool)
    tree = cKDTree(centroids[small])
    for start in range(0, len(edges), chunk):
        sl = slice(start, start + chunk)
        dist, k = tree.query(mid[sl], k=NEIGHBOURS, distance_upper_bound=float(half[sl].max() + r_small))
        near = dist <= (half[sl] + r_small)[:, None]
        ei = np.broadcast_to(np.arange(start, start + len(k))[:, None], k.shape)[near]
        _test_pairs(verts, edges, faces, ei, small[k[near]], hit)
    large = np.nonzero(radii > r_small)[0]
    if len(large):
        fi, ei = _pairs(cKDTree(mid).query_ball_point(centroids[large], radii[large] + half.max()), 0)
        _test_pairs(verts, edges, faces, ei, large[fi], hit)
    return hit


def self_intersection_fraction(verts: np.ndarray, faces: np.ndarray) -> float:
    return float(intersecting_faces(verts, faces).mean())
