"""Fast differentiable posing of only what the fit needs: the joints and a few surface points.

The full body-model forward pass skins every vertex; a fit needs ~50 landmarks per frame. :class:`LandmarkRig`
runs forward kinematics level by level (all joints of one depth in one batched matmul), in the RigSpec convention
(``G_j = G_p R_j``, ``head_j = head_p + G_p (rest_j - rest_p)``), and skins the selected rest vertices with their
weights. Rest joints and vertices for a shape come from one body-model pass at zero pose (batch 1).
"""

from __future__ import annotations

import numpy as np
import torch

from backend.bodymodels.base import BodyModel
from blender_addon.core.rigspec import RigSpec


def rotvec_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle radians -> (..., 3, 3), with a series expansion near zero (stable gradients)."""
    theta2 = (rotvec * rotvec).sum(-1, keepdim=True)
    small = theta2 < 1e-8
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = theta2_safe.sqrt()
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2_safe)
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(rotvec.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(K)
    return eye + a[..., None] * K + b[..., None] * (K @ K)


def matrix_to_rotvec(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) axis-angle (no gradients needed; used for initialisation and output)."""
    from blender_addon.core.rotations import matrix_to_quat

    q = torch.as_tensor(matrix_to_quat(R.detach().cpu().numpy()), dtype=R.dtype, device=R.device)
    w, v = q[..., :1], q[..., 1:]
    n = v.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(n, w)
    return torch.where(n > 1e-9, v / n.clamp_min(1e-12) * angle, 2 * v)


class LandmarkRig(torch.nn.Module):
    """Poses ``active`` joints (the rest keep their rest rotation and move with their nearest active ancestor)
    and ``vertices`` (rest-mesh indices) of a body model."""

    def __init__(self, model: BodyModel, rig: RigSpec, active: np.ndarray, vertices: np.ndarray, top_k: int = 4,
                 regressed: np.ndarray | None = None):
        super().__init__()
        self.model = model
        J = rig.num_joints
        parents = np.asarray(rig.parents)
        active = np.asarray(active, bool).copy()
        active[0] = True
        for j in range(J - 1, 0, -1):  # ancestors of active joints are active
            if active[j]:
                active[parents[j]] = True
        self.active_index = np.nonzero(active)[0]
        self.num_active = len(self.active_index)
        pos = -np.ones(J, np.int64)
        pos[self.active_index] = np.arange(self.num_active)
        owner = np.arange(J)  # nearest active ancestor of every joint
        for j in range(J):
            owner[j] = j if active[j] else owner[parents[j]]
        a_par = np.array([pos[parents[j]] if j else -1 for j in self.active_index])
        depth = np.zeros(self.num_active, np.int64)
        for i in range(1, self.num_active):
            depth[i] = depth[a_par[i]] + 1
        self.levels = []
        for d in range(1, int(depth.max(initial=0)) + 1):
            idx = np.nonzero(depth == d)[0]
            self.levels.append((torch.as_tensor(idx), torch.as_tensor(a_par[idx])))
        self.register_buffer("joint_index", torch.as_tensor(self.active_index), persistent=False)
        self.register_buffer("parent_index", torch.as_tensor(np.maximum(a_par, 0)), persistent=False)
        # Skin weights of the selected vertices folded onto active joints, top-k kept and renormalised. Regressed
        # points (rows of ``regressed`` (R, V): vertex weights summing to 1) follow after the vertices: their rest
        # position and skin weights are the weighted means of their vertices'.
        reg = np.zeros((0, rig.skin_weights.shape[0])) if regressed is None else np.asarray(regressed, np.float64)
        sw = rig.skin_weights[np.asarray(vertices, np.int64)] if len(vertices) else np.zeros((0, J))
        sw = np.concatenate([sw, reg @ rig.skin_weights]) if len(reg) else sw
        W = np.zeros((len(sw), self.num_active), np.float64)
        for j in range(J):
            W[:, pos[owner[j]]] += sw[:, j]
        k = min(top_k, self.num_active)
        top = np.argsort(-W, axis=1)[:, :k]
        tw = np.take_along_axis(W, top, 1)
        tw = tw / np.maximum(tw.sum(1, keepdims=True), 1e-12)
        self.register_buffer("vert_joint", torch.as_tensor(top), persistent=False)
        self.register_buffer("vert_weight", torch.as_tensor(tw, dtype=torch.float32), persistent=False)
        self.register_buffer("vert_index", torch.as_tensor(np.asarray(vertices, np.int64)), persistent=False)
        self.register_buffer("regressor", torch.as_tensor(reg, dtype=torch.float32), persistent=False)
        self._rest_cache: tuple | None = None

    def rest(self, shape: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest joints (J, 3) and selected rest vertices (Vs, 3) for shape (1, S) (differentiable in shape)."""
        dev = self.vert_weight.device
        if shape is None and self._rest_cache is not None:
            return self._rest_cache
        zero = torch.zeros(1, self.model.num_joints, 3, device=dev)
        out = self.model(zero, torch.zeros(1, 3, device=dev), shape=shape)
        rest = (out.joints[0].float(), self._select(out.vertices)[0])
        if shape is None:
            self._rest_cache = tuple(t.detach() for t in rest)
        return rest

    @torch.no_grad()
    def linearise(self, shape: torch.Tensor, step: float = 0.02) -> None:
        """Tangent of the rest state at ``shape`` (1, S) by central differences; :meth:`rest_linear` then costs no
        body-model pass (the rest state of Anny phenotypes is smooth, piecewise linear)."""
        s0 = shape.detach().clone()
        S = s0.shape[1]
        probes = torch.cat([s0, s0 + step * torch.eye(S, device=s0.device), s0 - step * torch.eye(S, device=s0.device)])
        zero = torch.zeros(probes.shape[0], self.model.num_joints, 3, device=s0.device)
        out = self.model(zero, torch.zeros(probes.shape[0], 3, device=s0.device), shape=probes)
        j, v = out.joints.float(), self._select(out.vertices)
        self._lin = (s0, j[0], v[0], (j[1:S + 1] - j[S + 1:]) / (2 * step), (v[1:S + 1] - v[S + 1:]) / (2 * step))

    def _select(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) model vertices -> (B, Vs + R, 3) the selected vertices, then the regressed points."""
        v = vertices[:, self.vert_index].float()
        if not len(self.regressor):
            return v
        return torch.cat([v, torch.einsum("rv,bvc->brc", self.regressor, vertices.float())], 1)

    def rest_linear(self, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest joints (J, 3) and selected vertices (Vs, 3) for shape (1, S) from the last :meth:`linearise`."""
        s0, j0, v0, dj, dv = self._lin
        d = (shape - s0)[0]
        return j0 + torch.einsum("s,sjc->jc", d, dj), v0 + torch.einsum("s,svc->vc", d, dv)

    def forward(self, rotmat: torch.Tensor, transl: torch.Tensor, rest: tuple[torch.Tensor, torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """rotmat (B, A, 3, 3) local rotations of the active joints; transl (B, 3) m.
        Returns joints (B, A, 3) of the active joints and vertices (B, Vs, 3), metres, model axes."""
        rest_j, rest_v = rest
        rj = rest_j[self.joint_index]  # (A, 3)
        offs = rj - rj[self.parent_index]  # (A, 3) offset from the parent in rest
        G_all = rotmat[:, :1]  # level-ordered global rotations, grown one depth at a time
        H_all = (rj[0] + transl)[:, None]
        for idx, par in self.levels:
            where = self._where[par]  # the parents' positions in the level-ordered arrays
            Gp, Hp = G_all[:, where], H_all[:, where]
            G_all = torch.cat([G_all, Gp @ rotmat[:, idx]], 1)
            H_all = torch.cat([H_all, Hp + (Gp @ offs[idx][None, :, :, None])[..., 0]], 1)
        G_all = G_all[:, self._where]  # back to active-joint order
        H_all = H_all[:, self._where]
        # Skin: v' = sum_k w_k (G_k (v - rest_k) + head_k)
        Gk = G_all[:, self.vert_joint]  # (B, Vs, k, 3, 3)
        local = rest_v[:, None, :] - rj[self.vert_joint]  # (Vs, k, 3)
        pk = (Gk @ local[None, ..., None])[..., 0] + H_all[:, self.vert_joint]
        verts = (pk * self.vert_weight[None, ..., None]).sum(2)
        return H_all, verts

    def _finish(self) -> None:
        """Precompute, for the level-ordered concatenation, where each active joint lands and the inverse order."""
        order = [0]
        for idx, _ in self.levels:
            order.extend(int(i) for i in idx)
        where = np.empty(self.num_active, np.int64)
        where[np.array(order)] = np.arange(self.num_active)
        self._where = torch.as_tensor(where)


def build_landmark_rig(model: BodyModel, rig: RigSpec, active: np.ndarray, vertices: np.ndarray,
                       regressed: np.ndarray | None = None) -> LandmarkRig:
    lr = LandmarkRig(model, rig, active, vertices, regressed=regressed)
    lr._finish()
    return lr
