"""Anny (NAVER LABS, Apache-2.0), the default body model: embedded, offline, 104 bones with fingers, 52 ARKit facial
actions, phenotype shape controls.

Anny's own units are metres and its up axis is +Z (the body is centred near the pelvis; the mesh faces -Y).
Anny's ``local-ref`` pose parameterization *without reference orientations* (zero rotations = the rest mesh, not
Anny's reference pose) is exactly the RigSpec convention for
every non-root bone (``G_j = G_p R_j``, heads follow the parents). For the root, Anny's delta is
``W_0 = [U_0^T D_0 U_0 | U_0^T d_0]`` (``U_0`` the root's rest orientation), so :meth:`AnnyBodyModel.forward` passes
``D_0 = U_0 R_0`` and ``d_0 = U_0 (rest_0 + transl)`` to get ``G_0 = R_0`` and ``head_0 = rest_0 + transl``.

Shape: Anny's phenotypes (gender, age, muscle, weight, height, proportions; each in [0, 1]) act non-linearly.
``forward(shape=...)`` takes phenotype *offsets* from the model's base phenotype (``param_defaults``), so zero
shape is the base body. :meth:`rig_spec` bakes a phenotype into the template and exposes, per phenotype, two
linear shape keys ``<name>_min`` / ``<name>_max`` (value 1 = that phenotype at 0 / at 1, others unchanged; exact
one phenotype at a time). Facial actions are linear blendshapes (``expr_dirs``, ARKit names, range [0, 1]).
"""

from __future__ import annotations

import logging

import numpy as np
import roma
import torch
from anny.utils import kinematics

from backend.bodymodels.base import BodyModel, BodyOutput
from backend.bodymodels.bone_frames import bone_tails
from blender_addon.core.rigspec import RigSpec

log = logging.getLogger(__name__)

FACIAL_PREFIX = "facial_action:"


def anny_version() -> str:
    import anny

    return str(anny.__version__)


def build_anny(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """The underlying ``anny.Anny`` model with all 52 facial actions and dense (differentiable) LBS."""
    import anny

    model = anny.Anny(facial_actions="all", skinning_method="lbs", pose_parameterization="local-ref")
    return model.to(device=device, dtype=dtype)


class AnnyBodyModel(BodyModel):
    """Anny behind the :class:`BodyModel` interface. J = 104, V = 13,718, F = 27,420 triangles, E = 52.

    ``phenotype`` sets the base body, e.g. ``{"gender": 0.3, "age": 0.6}`` (unset ones: 0.5).
    """

    name = "anny"
    up_axis = "Z"

    def __init__(self, phenotype: dict[str, float] | None = None, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, anny_model=None) -> None:
        super().__init__()
        self.anny = anny_model if anny_model is not None else build_anny(device, dtype)
        self.anny.to(device=device, dtype=dtype)
        a = self.anny
        self.joint_names = tuple(a.bone_labels)
        self.parents = tuple(int(p) if i else -1 for i, p in enumerate(a.bone_parents))
        self.param_names = tuple(a.phenotype_labels)
        labels = list(a.blendshape_labels)
        self.expr_names = tuple(lb[len(FACIAL_PREFIX):] for lb in labels if lb.startswith(FACIAL_PREFIX))
        self.shape_names, self.expression_names = self.param_names, self.expr_names
        self.num_shape = len(self.param_names)
        self.num_expression = len(self.expr_names)
        if list(a.local_change_labels):
            raise ValueError("Anny local changes are not supported by this adapter")
        phenotype = dict(phenotype or {})
        unknown = set(phenotype) - set(self.param_names)
        if unknown:
            raise ValueError(f"unknown Anny phenotype(s) {sorted(unknown)}; choose from {list(self.param_names)}")
        base = [float(phenotype.get(n, 0.5)) for n in self.param_names]
        # Registered first on purpose: callers take the first buffer's device and float dtype for their inputs.
        self.register_buffer("base_phenotype", torch.tensor(base, dtype=dtype, device=device)[None],
                             persistent=False)
        self.register_buffer("_faces", torch.as_tensor(a.faces, dtype=torch.int64, device=device), persistent=False)
        # Blendshape rows: the phenotype basis first, then the facial actions (checked, the fast path relies on it).
        rows = [labels.index(FACIAL_PREFIX + n) for n in self.expr_names]
        self._n_pheno = len(labels) - len(rows)
        if rows != list(range(self._n_pheno, len(labels))):
            raise ValueError("unexpected Anny blendshape layout; this adapter needs the phenotype rows first")
        face_dirs = a.blendshapes[rows]  # (E, V, 3); only the face moves
        touched = torch.nonzero(face_dirs.abs().sum(dim=(0, 2)) > 0)[:, 0]
        self.register_buffer("face_vertex_index", touched, persistent=False)
        self.register_buffer("face_dirs", face_dirs[:, touched].reshape(len(rows), -1).clone(), persistent=False)
        self.register_buffer("face_head_dirs", a.bone_heads_blendshapes[rows].clone(), persistent=False)

    # -- interface ---------------------------------------------------------------------------------------------
    @property
    def faces(self) -> torch.Tensor:
        return self._faces

    @property
    def dtype(self) -> torch.dtype:
        return self.anny.dtype

    def _coefficients(self, batch: int, shape: torch.Tensor | None, expression: torch.Tensor | None
                      ) -> torch.Tensor:
        """Anny blendshape coefficients (B or 1, K) for phenotype offsets (B|1, 6) and facial actions (B|1, 52)."""
        a, dev, dt = self.anny, self.base_phenotype.device, self.dtype
        pheno = self.base_phenotype
        if shape is not None:
            pheno = pheno + shape.to(dev, dt).reshape(-1, self.num_shape)
        if expression is None:
            expression = torch.zeros(1, self.num_expression, device=dev, dtype=dt)
        expression = expression.to(dev, dt).reshape(-1, self.num_expression)
        n = max(pheno.shape[0], expression.shape[0])
        return a._get_phenotype_blendshape_coefficients(pheno.expand(n, -1), torch.zeros(n, 0, device=dev, dtype=dt),
                                                        expression.expand(n, -1))

    def forward(self, rotvec: torch.Tensor, transl: torch.Tensor | None = None, shape: torch.Tensor | None = None,
                expression: torch.Tensor | None = None) -> BodyOutput:
        """rotvec (B, 104, 3) radians, local in rest axes; transl (B, 3) m; shape (B|1, 6) phenotype offsets;
        expression (B|1, 52) facial action weights. Vertices (B, 13718, 3) and joints (B, 104, 3), metres, Z up.

        Fast path on Anny's buffers: rest orientations cancel out in this parameterization, so FK runs on the rest
        heads alone; phenotype blendshapes are evaluated once for a shared (1, 6) shape; facial actions touch only
        the face vertices; skinning is one (V, J) x (J, 12) product per pose."""
        a = self.anny
        B, J = rotvec.shape[0], rotvec.shape[1]
        if J != self.num_joints:
            raise ValueError(f"Anny expects rotvec (B, {self.num_joints}, 3), got {tuple(rotvec.shape)}")
        dev, dt = self.base_phenotype.device, self.dtype
        rotvec = rotvec.to(dev, dt)
        pheno = self.base_phenotype
        if shape is not None:
            pheno = pheno + shape.to(dev, dt).reshape(-1, self.num_shape)
        S = pheno.shape[0]
        V = a.template_vertices.shape[0]
        if shape is None:
            verts, heads = self._base_rest()
        else:
            verts, heads = self._phenotype_rest(pheno)
        if expression is not None:
            e = expression.to(dev, dt).reshape(-1, self.num_expression)
            n = max(S, e.shape[0])
            offsets = (e @ self.face_dirs).reshape(e.shape[0], -1, 3).expand(n, -1, -1)
            verts = torch.index_add(verts.expand(n, -1, -1), 1, self.face_vertex_index, offsets)
            heads = heads + torch.einsum("ek,kjc->ejc", e, self.face_head_dirs)
        heads = heads.expand(B, -1, -1)
        root = heads[:, 0] if transl is None else heads[:, 0] + transl.to(dev, dt).reshape(B, 3)
        G, posed = self._kinematics(roma.rotvec_to_rotmat(rotvec), heads, root)
        transforms = torch.cat([G, (posed - (G @ heads[..., None])[..., 0])[..., None]], dim=-1)  # (B, J, 3, 4)
        # One GEMM for the whole batch: (V, J) x (J, B * 12).
        T = transforms.reshape(B, J, 12).permute(1, 0, 2).reshape(J, B * 12)
        A = torch.matmul(a.dense_vertex_bone_weights, T).reshape(V, B, 3, 4).permute(1, 0, 2, 3)
        out = (A[..., :3] * verts[:, :, None, :]).sum(-1) + A[..., 3]
        return BodyOutput(vertices=out, joints=posed)

    def _kinematics(self, R: torch.Tensor, heads: torch.Tensor, root: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """RigSpec forward kinematics, one batched step per tree depth. R (B, J, 3, 3) local rotations, heads
        (B, J, 3) rest heads, root (B, 3) posed root head -> global rotations (B, J, 3, 3), posed heads (B, J, 3)."""
        local, order, inverse, parent = self.anny.kinematic_chain_indices
        offsets = (heads - heads[:, parent])[:, order]
        R = R[:, order]
        Gs, Hs = [R[:, :1]], [root[:, None]]
        for first, last in self.anny.kinematic_chain_levels[1:]:
            idx = local[first:last]
            Gp, Hp = Gs[-1][:, idx], Hs[-1][:, idx]
            Gs.append(Gp @ R[:, first:last])
            Hs.append(Hp + (Gp @ offsets[:, first:last, :, None])[..., 0])
        return torch.cat(Gs, 1)[:, inverse], torch.cat(Hs, 1)[:, inverse]

    def _phenotype_rest(self, pheno: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest vertices (S, V, 3) and bone heads (S, J, 3) for phenotype values (S, 6), no facial action."""
        a, K, S = self.anny, self._n_pheno, pheno.shape[0]
        zeros = torch.zeros(S, self.num_expression, device=pheno.device, dtype=pheno.dtype)
        wi = a._get_phenotype_blendshape_coefficients(pheno, zeros[:, :0], zeros)[:, :K]
        verts = a.template_vertices + (wi @ a.blendshapes[:K].reshape(K, -1)).reshape(S, -1, 3)
        heads = a.template_bone_heads + torch.einsum("sk,kjc->sjc", wi, a.bone_heads_blendshapes[:K])
        return verts, heads

    def _base_rest(self) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_phenotype_rest` of the base phenotype, cached per device/dtype."""
        key = (self.base_phenotype.device, self.dtype)
        if getattr(self, "_base_cache", (None,))[0] != key:
            with torch.no_grad():
                self._base_cache = (key, *self._phenotype_rest(self.base_phenotype))
        return self._base_cache[1], self._base_cache[2]

    def forward_anny_pipeline(self, rotvec: torch.Tensor, transl: torch.Tensor | None = None, shape: torch.Tensor | None = None,
                expression: torch.Tensor | None = None) -> BodyOutput:
        """Same as :meth:`forward`, through Anny's own rest model (bone orientations) and skinning; slower, kept
        as the reference the fast path is tested against."""
        a = self.anny
        B, J = rotvec.shape[0], rotvec.shape[1]
        if J != self.num_joints:
            raise ValueError(f"Anny expects rotvec (B, {self.num_joints}, 3), got {tuple(rotvec.shape)}")
        rotvec = rotvec.to(self.base_phenotype.device, self.dtype)
        coeffs = self._coefficients(B, shape, expression)
        rest = a.get_rest_model(coeffs)
        rest_poses = rest["rest_bone_poses"].expand(B, -1, -1, -1)
        U0 = rest_poses[:, 0, :3, :3]
        h0 = rest["rest_bone_heads"][:, 0].expand(B, -1)
        R = roma.rotvec_to_rotmat(rotvec)
        R0 = U0 @ R[:, 0]
        d0 = h0 if transl is None else h0 + transl.to(h0.device, h0.dtype).reshape(B, 3)
        d0 = (U0 @ d0[..., None])[..., 0]
        rot = torch.cat([R0[:, None], R[:, 1:]], dim=1)
        trans = torch.cat([d0[:, None], torch.zeros_like(R[:, 1:, :, 0])], dim=1)
        bottom = torch.zeros(B, J, 1, 4, device=R.device, dtype=R.dtype)
        bottom[..., 0, 3] = 1.0
        delta = torch.cat([torch.cat([rot, trans[..., None]], dim=-1), bottom], dim=-2)
        # Reference orientations None: deltas are relative to the rest pose (Anny's own default is its reference
        # pose, which differs from the rest mesh).
        transforms, poses = kinematics.forward_kinematic((a.kinematic_chain_levels, a.kinematic_chain_indices),
                                                         rest_poses, delta, "local-ref", None)
        verts = a.get_skinned_vertices(rest["rest_vertices"].expand(B, -1, -1), transforms)
        return BodyOutput(vertices=verts, joints=poses[..., :3, 3])

    # -- rig export --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def rig_spec(self, shape: torch.Tensor | None = None) -> RigSpec:
        """RigSpec with the phenotype ``base + shape`` (shape (1, 6) offsets) baked into the template. The one at
        the base phenotype (``shape`` None) is kept: building it takes seconds and every fit (window) asks for it."""
        key = self.base_phenotype.detach().cpu().numpy().tobytes()
        cached = getattr(self, "_rig_cache", None)
        if shape is None and cached is not None and cached[0] == key:
            return cached[1]
        spec = self._build_rig_spec(shape)
        if shape is None:
            self._rig_cache = (key, spec)
        return spec

    def _build_rig_spec(self, shape: torch.Tensor | None) -> RigSpec:
        a = self.anny
        dev, dt = self.base_phenotype.device, self.dtype
        pheno = self.base_phenotype.clone()
        if shape is not None:
            pheno = pheno + torch.as_tensor(shape, device=dev, dtype=dt).reshape(1, -1)
        pheno = pheno.clamp(0.0, 1.0)
        zero_expr = torch.zeros(1, self.num_expression, device=dev, dtype=dt)

        def rest_of(p: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            c = a._get_phenotype_blendshape_coefficients(p, torch.zeros(1, 0, device=dev, dtype=dt), zero_expr)
            r = a.get_rest_model(c)
            return (r["rest_vertices"][0].double().cpu().numpy(), r["rest_bone_heads"][0].double().cpu().numpy(),
                    r["rest_bone_poses"][0, :, :3, :3].double().cpu().numpy())

        template, heads, orient = rest_of(pheno)
        names, dirs, jdirs = [], [], []
        for k, label in enumerate(self.param_names):
            for suffix, value in (("_min", 0.0), ("_max", 1.0)):
                p = pheno.clone()
                p[0, k] = value
                v, h, _ = rest_of(p)
                names.append(label + suffix)
                dirs.append(v - template)
                jdirs.append(h - heads)
        # Facial actions: linear rows of Anny's blendshape basis.
        labels = list(a.blendshape_labels)
        rows = [labels.index(FACIAL_PREFIX + n) for n in self.expr_names]
        expr_dirs = a.blendshapes[rows].double().cpu().numpy()
        expr_jdirs = a.bone_heads_blendshapes[rows].double().cpu().numpy()

        parents = np.asarray(self.parents, dtype=np.int32)
        lengths = np.linalg.norm(bone_tails(heads, parents, "Z") - heads, axis=1)
        tails = heads + lengths[:, None] * orient[:, :, 1]
        uvs = None
        if a.texture_coordinates is not None and a.face_texture_coordinate_indices is not None:
            tc = a.texture_coordinates.double().cpu().numpy()
            idx = a.face_texture_coordinate_indices.cpu().numpy()
            if idx.shape == tuple(self._faces.shape):
                uvs = tc[idx].astype(np.float32)
        weights = a.dense_vertex_bone_weights.double().cpu().numpy()
        weights = (weights / weights.sum(1, keepdims=True)).astype(np.float32)
        S = len(names)
        spec = RigSpec(
            model="anny", joint_names=self.joint_names, parents=parents, rest_joints=heads, rest_orient=orient,
            bone_tails=tails, template=template, faces=self._faces.cpu().numpy().astype(np.int32),
            skin_weights=weights, up_axis="Z", gender="neutral", uvs=uvs,
            shape_names=tuple(names), shape_dirs=np.stack(dirs).astype(np.float32),
            shape_joint_dirs=np.stack(jdirs).astype(np.float32),
            shape_range=np.tile(np.array([[0.0, 1.0]], np.float32), (S, 1)),
            expr_names=self.expr_names, expr_dirs=expr_dirs.astype(np.float32),
            expr_joint_dirs=expr_jdirs.astype(np.float32),
            expr_range=np.tile(np.array([[0.0, 1.0]], np.float32), (self.num_expression, 1)),
            param_names=self.param_names, param_defaults=pheno[0].double().cpu().numpy().astype(np.float32),
            metadata={"anny_version": anny_version(), "pose_parameterization": "local-ref",
                      "phenotype": {n: float(v) for n, v in zip(self.param_names, pheno[0].tolist())},
                      "shape_keys": "per phenotype: <name>_min / <name>_max, value 1 = phenotype at 0 / 1",
                      "expression": "ARKit facial actions, weights in [0, 1]"},
        )
        spec.validate("Anny RigSpec")
        return spec
