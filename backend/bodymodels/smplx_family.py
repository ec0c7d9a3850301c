"""SMPL-X, SMPL+H, SMPL, FLAME and MANO from a user's model folder, through the ``smplx`` package's own LBS.

Metres, Y up, the body faces +Z. A pose is one axis-angle per joint (J = 55 SMPL-X, 52 SMPL+H, 24 SMPL, 5 FLAME,
16 MANO) in smplx's joint order; hands take full per-joint rotations (smplx's ``use_pca=False,
flat_hand_mean=True``: no PCA, no mean hand added). The forward pass is ``smplx.lbs.lbs`` on the file's buffers,
so it equals ``smplx.SMPLX(...)(global_orient, body_pose, ..., transl)`` for the same parameters.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path

import numpy as np
import torch
from smplx.joint_names import JOINT_NAMES
from smplx.lbs import lbs

from backend.bodymodels.base import BodyModel, BodyOutput
from backend.bodymodels.bone_frames import rest_frames
from backend.bodymodels.model_files import read_model_file
from blender_addon.core.rigspec import RigSpec
from blender_addon.core.model_registry import ModelFileError, resolve_model_file

log = logging.getLogger(__name__)

_MANO_NAMES = ("wrist", "index1", "index2", "index3", "middle1", "middle2", "middle3", "pinky1", "pinky2", "pinky3",
               "ring1", "ring2", "ring3", "thumb1", "thumb2", "thumb3")
JOINT_NAMES_BY_MODEL = {
    "smplx": tuple(JOINT_NAMES[:55]),
    "smplh": tuple(JOINT_NAMES[:22]) + tuple(JOINT_NAMES[25:55]),
    "smpl": tuple(JOINT_NAMES[:22]) + ("left_hand", "right_hand"),
    "flame": ("global", "neck", "jaw", "left_eye", "right_eye"),
    "mano": _MANO_NAMES,
}
HAS_EXPRESSION = ("smplx", "flame")
SHAPE_SPACE_DIM = 300  # smplx's split of SMPL-X / FLAME shapedirs into shape (first 300) and expression


def split_shape_space(model: str, total: int, num_betas: int, num_expression: int) -> tuple[slice, slice]:
    """Columns of ``shapedirs`` holding the betas and the expression components, as smplx splits them."""
    if model not in HAS_EXPRESSION:
        return slice(0, min(num_betas, total)), slice(0, 0)
    if total >= SHAPE_SPACE_DIM + 100:
        return slice(0, min(num_betas, SHAPE_SPACE_DIM)), slice(SHAPE_SPACE_DIM, SHAPE_SPACE_DIM + min(num_expression,
                                                                                                         100))
    # Early releases (SMPL-X v1.0, 10 + 10 components).
    return slice(0, min(num_betas, 10)), slice(10, 10 + min(num_expression, 10))


class SMPLFamilyModel(BodyModel):
    """A model of the SMPL family; construct with :meth:`from_folder` or :meth:`from_file`."""

    up_axis = "Y"

    def __init__(self, name: str, data: dict, source: Path, gender: str = "neutral", num_betas: int = 10,
                 num_expression: int = 10, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
                 ) -> None:
        super().__init__()
        self.name = name
        self.gender = gender
        self.source = Path(source)
        self.joint_names = JOINT_NAMES_BY_MODEL[name]
        kin = np.asarray(data["kintree_table"]).astype(np.int64)
        parents = kin[0].copy()
        parents[0] = -1
        self.parents = tuple(int(p) for p in parents)
        shapedirs = np.asarray(data["shapedirs"], dtype=np.float64)
        if shapedirs.ndim == 2:
            shapedirs = shapedirs[:, :, None]
        beta_cols, expr_cols = split_shape_space(name, shapedirs.shape[-1], num_betas, num_expression)
        self.num_shape = beta_cols.stop - beta_cols.start
        self.num_expression = expr_cols.stop - expr_cols.start
        self.shape_names = tuple(f"beta{i:03d}" for i in range(self.num_shape))
        self.expression_names = tuple(f"expr{i:03d}" for i in range(self.num_expression))

        def buf(key: str, value, dt=dtype) -> None:
            self.register_buffer(key, torch.as_tensor(np.asarray(value), dtype=dt, device=device), persistent=False)

        buf("v_template", data["v_template"])
        buf("shapedirs", np.concatenate([shapedirs[:, :, beta_cols], shapedirs[:, :, expr_cols]], axis=2))
        P = np.asarray(data["posedirs"]).shape[-1]
        buf("posedirs", np.reshape(np.asarray(data["posedirs"], dtype=np.float64), [-1, P]).T)
        buf("J_regressor", data["J_regressor"])
        buf("lbs_weights", data["weights"])
        buf("parents_t", parents, torch.long)
        buf("faces_t", np.asarray(data["f"]).astype(np.int64), torch.long)
        self._uvs = None
        if "vt" in data and "ft" in data:
            vt, ft = np.asarray(data["vt"]), np.asarray(data["ft"]).astype(np.int64)
            if ft.shape == np.asarray(data["f"]).shape and vt.ndim == 2 and vt.shape[1] == 2 and ft.max() < len(vt):
                self._uvs = vt[ft].astype(np.float32)

    # -- construction ------------------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, name: str, path: str | os.PathLike, **kwargs) -> "SMPLFamilyModel":
        data = read_model_file(Path(path), name)
        with contextlib.redirect_stdout(io.StringIO()):
            return cls(name, data, Path(path), **kwargs)

    @classmethod
    def from_folder(cls, name: str, model_dir: str | os.PathLike | None = None, gender: str = "neutral",
                    num_betas: int = 10, num_expression: int = 10, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32, preference_dir: str | os.PathLike | None = None,
                    side: str | None = None, **unused) -> "SMPLFamilyModel":
        """Find the model file (see :func:`blender_addon.core.model_registry.resolve_model_file`) and load it.

        MANO: ``side`` 'right' (default) or 'left' (``gender`` 'right'/'left' also accepted).
        """
        if unused:
            raise TypeError(f"unknown option(s) for {name}: {', '.join(sorted(unused))}")
        variant = gender
        if name == "mano":
            variant = side or (gender if gender in ("right", "left") else "right")
        elif gender not in ("neutral", "male", "female"):
            raise ModelFileError(f"gender must be neutral, male or female, not {gender!r}")
        path = resolve_model_file(name, variant, model_dir=model_dir, preference_dir=preference_dir)
        log.info("loading %s from %s", name, path)
        return cls.from_file(name, path, gender=variant, num_betas=num_betas, num_expression=num_expression,
                             device=device, dtype=dtype)

    # -- interface ---------------------------------------------------------------------------------------------
    @property
    def faces(self) -> torch.Tensor:
        return self.faces_t

    def forward(self, rotvec: torch.Tensor, transl: torch.Tensor | None = None, shape: torch.Tensor | None = None,
                expression: torch.Tensor | None = None) -> BodyOutput:
        """rotvec (B, J, 3) radians; transl (B, 3) m; shape (B|1, S) betas; expression (B|1, E).
        Vertices (B, V, 3) and joints (B, J, 3) in metres."""
        B, J = rotvec.shape[0], rotvec.shape[1]
        if J != self.num_joints:
            raise ValueError(f"{self.name} expects rotvec (B, {self.num_joints}, 3), got {tuple(rotvec.shape)}")
        dev, dt = self.v_template.device, self.v_template.dtype
        coeffs = []
        for value, n in ((shape, self.num_shape), (expression, self.num_expression)):
            if n == 0:
                continue
            v = torch.zeros(1, n, device=dev, dtype=dt) if value is None else value.to(dev, dt).reshape(-1, n)
            coeffs.append(v.expand(B, -1))
        betas = torch.cat(coeffs, dim=1) if coeffs else torch.zeros(B, 0, device=dev, dtype=dt)
        verts, joints = lbs(betas, rotvec.to(dev, dt).reshape(B, -1), self.v_template, self.shapedirs, self.posedirs,
                            self.J_regressor, self.parents_t, self.lbs_weights, pose2rot=True)
        if transl is not None:
            t = transl.to(dev, dt).reshape(B, 1, 3)
            verts, joints = verts + t, joints + t
        return BodyOutput(vertices=verts, joints=joints)

    @torch.no_grad()
    def rig_spec(self, shape: torch.Tensor | None = None) -> RigSpec:
        """RigSpec at zero shape (shape is linear: ``shape`` is stored in metadata for the shape-key values)."""
        S, E = self.num_shape, self.num_expression
        template = self.v_template.double().cpu().numpy()
        jreg = self.J_regressor.double().cpu().numpy()
        dirs = self.shapedirs.double().cpu().numpy()  # (V, 3, S + E)
        joints = jreg @ template
        parents = np.asarray(self.parents, dtype=np.int32)
        orient, tails = rest_frames(joints, parents, up_axis="Y", forward_axis="Z")
        sdirs = np.ascontiguousarray(dirs.transpose(2, 0, 1))  # (S + E, V, 3)
        jdirs = np.einsum("jv,kvc->kjc", jreg, sdirs)
        V, J = template.shape[0], len(parents)
        P = self.posedirs.shape[0]
        pose_names = tuple(f"{self.joint_names[1 + i // 9]}_r{(i % 9) // 3}{i % 3}" for i in range(P))
        meta = {"source": self.source.name, "smplx_lbs": True}
        if shape is not None:
            meta["shape"] = [float(x) for x in torch.as_tensor(shape).reshape(-1).tolist()]
        spec = RigSpec(
            model=self.name, joint_names=self.joint_names, parents=parents, rest_joints=joints, rest_orient=orient,
            bone_tails=tails, template=template, faces=self.faces_t.cpu().numpy().astype(np.int32),
            skin_weights=self.lbs_weights.float().cpu().numpy(), up_axis="Y", gender=self.gender, uvs=self._uvs,
            shape_names=self.shape_names, shape_dirs=sdirs[:S].astype(np.float32),
            shape_joint_dirs=jdirs[:S].astype(np.float32),
            shape_range=np.tile(np.array([[-5.0, 5.0]], np.float32), (S, 1)),
            expr_names=self.expression_names, expr_dirs=sdirs[S:].astype(np.float32),
            expr_joint_dirs=jdirs[S:].astype(np.float32),
            expr_range=np.tile(np.array([[-3.0, 3.0]], np.float32), (E, 1)),
            pose_names=pose_names,
            pose_dirs=self.posedirs.float().cpu().numpy().reshape(P, V, 3),
            metadata=meta,
        )
        spec.validate(f"{self.name} RigSpec")
        assert J == self.num_joints
        return spec
