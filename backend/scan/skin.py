"""Skin weights for the scan's own vertices, from the fitted body: the closest point on the body's surface gives
barycentric weights, a few smoothing passes over the scan's edges even them out; then the scan is unposed to the
rig's rest pose (the exact inverse of its per-vertex blended transform), so an armature poses it like the body."""

from __future__ import annotations

import numpy as np
import torch

from backend.fitting.skeleton import rotvec_to_matrix
from backend.scan.closest import closest_on_mesh
from blender_addon.core.rigspec import RigSpec

TOP_K = 4


def transfer_weights(body_vertices: np.ndarray, body_faces: np.ndarray, body_weights: np.ndarray,
                     scan_vertices: np.ndarray, scan_faces: np.ndarray | None, smooth: int = 3) -> np.ndarray:
    """(N, J) skin weights for ``scan_vertices`` (N, 3) from the posed body (V, 3) / faces (F, 3) / weights
    (V, J), all metres in one space. Keeps the ``TOP_K`` largest per vertex, rows sum to 1."""
    _, _, tri, bary = closest_on_mesh(body_vertices, body_faces, scan_vertices)
    corners = np.asarray(body_faces, np.int64)[tri]  # (N, 3)
    W = np.einsum("nk,nkj->nj", bary, body_weights[corners])
    if scan_faces is not None and len(scan_faces) and smooth:
        W = _smooth(W, scan_faces, len(scan_vertices), smooth)
    return _top_k(W, TOP_K).astype(np.float32)


def unpose(scan_vertices: np.ndarray, weights: np.ndarray, rig: RigSpec, rotvec: np.ndarray, transl: np.ndarray,
           betas: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The scan at the rig's rest pose: ``v_rest = A(v)^-1 (v - b(v))`` with the blended skinning transform of the
    fitted pose (exact for linear blend skinning). scan_vertices (N, 3) metres, weights (N, J), rotvec (J, 3),
    transl (3,), betas (S,) as in the motion file. Returns rest vertices (N, 3) and rest joints (J, 3)."""
    _, rest_j = rig.rest_state(betas)
    R = rotvec_to_matrix(torch.as_tensor(rotvec, dtype=torch.float64)).numpy()[None]
    G, heads = rig.forward_kinematics(R, np.asarray(transl, np.float64)[None], rest_j)
    T = np.tile(np.eye(4), (rig.num_joints, 1, 1))
    T[:, :3, :3] = G[0]
    T[:, :3, 3] = heads[0] - np.einsum("jab,jb->ja", G[0], rest_j)
    A = np.einsum("nj,jab->nab", weights.astype(np.float64), T)  # (N, 4, 4)
    homo = np.concatenate([scan_vertices, np.ones((len(scan_vertices), 1))], 1)
    rest = np.linalg.solve(A, homo[..., None])[..., 0]
    return rest[:, :3], rest_j


def _smooth(W: np.ndarray, faces: np.ndarray, n: int, passes: int) -> np.ndarray:
    """``passes`` of averaging each vertex's weights with its edge neighbours (half-half)."""
    import scipy.sparse as sp

    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.concatenate([e, e[:, ::-1]])
    adj = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    adj.data[:] = 1.0
    deg = np.asarray(adj.sum(1)).ravel()
    for _ in range(passes):
        avg = adj @ W / np.maximum(deg, 1)[:, None]
        W = np.where(deg[:, None] > 0, 0.5 * W + 0.5 * avg, W)
    return W


def _top_k(W: np.ndarray, k: int) -> np.ndarray:
    if W.shape[1] > k:
        cut = np.partition(W, -k, axis=1)[:, -k][:, None]
        W = np.where(W >= cut, W, 0.0)
    return W / np.maximum(W.sum(1, keepdims=True), 1e-12)
