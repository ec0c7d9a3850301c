"""A small procedural articulated body (tapered-tube limbs, rigid skinning) following the BodyModel interface.

It needs no downloaded model files, so the avatar pipeline, its tests and its benchmarks run anywhere; it is also the
``procedural`` model of ``backend.bodymodels.load_body_model``. Y is up, metres, about 1.7 m tall at zero shape.
Shape: ``shape[:, 0]`` scales height (+0.1 = 10 % taller), ``shape[:, 1]`` scales limb girth.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from backend.bodymodels.base import BodyModel, BodyOutput
from blender_addon.core.rigspec import RigSpec

# name, parent, rest head (x, y, z) metres, tail offset, radius at head, radius at tail
_BONES = (
    ("pelvis", -1, (0.0, 0.95, 0.0), (0.0, 0.20, 0.0), 0.14, 0.13),
    ("spine", 0, (0.0, 1.15, 0.0), (0.0, 0.30, 0.0), 0.13, 0.15),
    ("head", 1, (0.0, 1.48, 0.0), (0.0, 0.24, 0.0), 0.06, 0.11),
    ("l_upperarm", 1, (0.18, 1.40, 0.0), (0.28, 0.0, 0.0), 0.05, 0.045),
    ("l_forearm", 3, (0.46, 1.40, 0.0), (0.26, 0.0, 0.0), 0.042, 0.032),
    ("r_upperarm", 1, (-0.18, 1.40, 0.0), (-0.28, 0.0, 0.0), 0.05, 0.045),
    ("r_forearm", 5, (-0.46, 1.40, 0.0), (-0.26, 0.0, 0.0), 0.042, 0.032),
    ("l_thigh", 0, (0.10, 0.92, 0.0), (0.0, -0.44, 0.0), 0.075, 0.055),
    ("l_shin", 7, (0.10, 0.48, 0.0), (0.0, -0.44, 0.04), 0.05, 0.04),
    ("r_thigh", 0, (-0.10, 0.92, 0.0), (0.0, -0.44, 0.0), 0.075, 0.055),
    ("r_shin", 9, (-0.10, 0.48, 0.0), (0.0, -0.44, 0.04), 0.05, 0.04),
)


def _rotvec_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle radians -> (..., 3, 3) rotation matrices (Rodrigues)."""
    angle = rotvec.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    axis = rotvec / angle
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*rotvec.shape[:-1], 3, 3)
    s = torch.sin(angle)[..., None]
    c = torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(k)
    return eye + s * k + (1 - c) * (k @ k)


def _tube(head: np.ndarray, tail: np.ndarray, r0: float, r1: float, rings: int, sides: int):
    """Closed tapered tube from head to tail: vertices (N, 3), faces (M, 3), normalised length coordinate (N,)."""
    axis = tail - head
    length = float(np.linalg.norm(axis))
    a = axis / length
    ref = np.array([0.0, 0.0, 1.0]) if abs(a[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(a, ref)
    u /= np.linalg.norm(u)
    w = np.cross(a, u)
    verts, faces = [], []
    for i in range(rings + 1):
        s = i / rings
        r = (r0 + (r1 - r0) * s) * (0.6 + 0.4 * math.sin(math.pi * s))
        c = head + a * length * s
        for j in range(sides):
            phi = 2 * math.pi * j / sides
            verts.append(c + r * (math.cos(phi) * u + math.sin(phi) * w))
    for i in range(rings):
        for j in range(sides):
            p, q = i * sides + j, i * sides + (j + 1) % sides
            faces += [(p, q, p + sides), (q, q + sides, p + sides)]
    n = len(verts)
    verts += [head - a * 0.3 * r0, tail + a * 0.3 * r1]  # caps
    for j in range(sides):
        faces.append((n, (j + 1) % sides, j))
        last = rings * sides
        faces.append((n + 1, last + j, last + (j + 1) % sides))
    return np.asarray(verts), np.asarray(faces)


class ProceduralBody(BodyModel):
    """Eleven rigid tubes on a 11-joint skeleton; a few thousand faces at the default resolution."""

    def __init__(self, rings: int = 12, sides: int = 16):
        super().__init__()
        self.name = "procedural"
        self.joint_names = tuple(b[0] for b in _BONES)
        self.parents = tuple(b[1] for b in _BONES)
        self.num_shape = 2
        self.num_expression = 0
        self.up_axis = "Y"
        verts, faces, owner = [], [], []
        for j, (_, _, head, tail, r0, r1) in enumerate(_BONES):
            h = np.asarray(head, float)
            v, f = _tube(h, h + np.asarray(tail, float), r0, r1, rings, sides)
            faces.append(f + sum(len(x) for x in verts))
            verts.append(v)
            owner.append(np.full(len(v), j))
        self.register_buffer("template", torch.tensor(np.concatenate(verts), dtype=torch.float32))
        self.register_buffer("owner", torch.tensor(np.concatenate(owner), dtype=torch.int64))
        self.register_buffer("_faces", torch.tensor(np.concatenate(faces), dtype=torch.int64))
        self.register_buffer("rest_joints", torch.tensor([b[2] for b in _BONES], dtype=torch.float32))

    @property
    def faces(self) -> torch.Tensor:
        return self._faces

    def _shaped(self, shape: torch.Tensor | None, batch: int):
        dev = self.template.device
        s = torch.zeros(batch, 2, device=dev) if shape is None else shape.to(dev).float().expand(batch, -1)
        s = torch.nn.functional.pad(s, (0, max(0, 2 - s.shape[1])))[:, :2]
        height = (1.0 + s[:, 0])[:, None, None]
        girth = (1.0 + s[:, 1])[:, None, None]
        joints = self.rest_joints[None] * height
        local = self.template[None] - self.rest_joints[self.owner][None]
        verts = joints[:, self.owner] + local * height * girth
        return verts, joints

    def forward(self, rotvec, transl=None, shape=None, expression=None) -> BodyOutput:
        """rotvec (B, 11, 3) radians; transl (B, 3) metres; shape (B|1, 2). Returns vertices (B, V, 3)."""
        B = rotvec.shape[0]
        verts, joints = self._shaped(shape, B)
        R = _rotvec_to_matrix(rotvec.float())
        G, heads = [], []
        for j, p in enumerate(self.parents):
            if p < 0:
                G.append(R[:, j])
                heads.append(joints[:, j] + (0 if transl is None else transl.float()))
            else:
                G.append(G[p] @ R[:, j])
                heads.append(heads[p] + torch.einsum("bij,bj->bi", G[p], joints[:, j] - joints[:, p]))
        G = torch.stack(G, 1)
        heads = torch.stack(heads, 1)
        local = verts - joints[:, self.owner]
        out = torch.einsum("bvij,bvj->bvi", G[:, self.owner], local) + heads[:, self.owner]
        return BodyOutput(vertices=out, joints=heads)

    def rig_spec(self, shape=None) -> RigSpec:
        verts, joints = self._shaped(shape, 1)
        joints_np = joints[0].double().cpu().numpy()
        tails = joints_np + np.asarray([b[3] for b in _BONES], float)
        orient = np.zeros((len(_BONES), 3, 3))
        for j in range(len(_BONES)):
            y = tails[j] - joints_np[j]
            y /= np.linalg.norm(y)
            ref = np.array([0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
            x = np.cross(y, ref)
            x /= np.linalg.norm(x)
            orient[j] = np.stack([x, y, np.cross(x, y)], axis=1)
        weights = np.zeros((verts.shape[1], len(_BONES)), np.float32)
        weights[np.arange(verts.shape[1]), self.owner.cpu().numpy()] = 1.0
        return RigSpec(model="procedural", joint_names=self.joint_names, parents=np.asarray(self.parents, np.int32),
                       rest_joints=joints_np, rest_orient=orient, bone_tails=tails,
                       template=verts[0].double().cpu().numpy(), faces=self._faces.cpu().numpy().astype(np.int32),
                       skin_weights=weights, up_axis="Y")
