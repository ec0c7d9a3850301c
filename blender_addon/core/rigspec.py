"""RigSpec: everything the add-on needs to build a rigged, shape-keyed body, as numpy arrays.

Written by the backend (``backend.bodymodels``) to an ``.npz`` and read here without torch.

Conventions (shared by every body model, and by the motion file):
- Units are metres; axes are the model's own (``up_axis`` says which one points up: SMPL family "Y", Anny "Z").
- Joint ``j`` has parent ``parents[j]`` (-1 for the single root at index 0); parents come before children.
- A pose is one local rotation per joint, ``R_j`` (3x3), expressed in the model's rest axes (the SMPL convention,
  also Anny's ``local-ref``), plus a root translation ``transl``:
      G_0 = R_0,              head_0 = rest_joints[0] + transl
      G_j = G_p R_j,          head_j = head_p + G_p (rest_joints[j] - rest_joints[p])
  and linear blend skinning is  v' = sum_j w_vj (G_j (v - rest_joints[j]) + head_j).
- ``rest_orient[j]`` is the rest frame of bone ``j`` (columns: bone x, y, z axes, y from head to tail), used to
  build Blender bones. A Blender pose bone's rotation is then ``B_j^T R_j B_j`` and the root's location is
  ``B_0^T transl``, so the built armature moves exactly as the model does.
- Blendshapes are (K, V, 3) vertex offsets; shape and expression blendshapes also move the joints
  (``*_joint_dirs``, (K, J, 3)). Pose correctives (SMPL family) use the feature
  ``(R_j - I)`` for joints 1..J-1, flattened row-major, so ``pose_dirs`` has 9 (J-1) entries.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .npzio import write_npz_atomic
RIGSPEC_VERSION = 1

_ARRAY_FIELDS = (
    "parents", "rest_joints", "rest_orient", "bone_tails", "template", "faces", "skin_weights", "uvs",
    "shape_dirs", "shape_joint_dirs", "shape_range", "expr_dirs", "expr_joint_dirs", "expr_range", "pose_dirs",
    "param_defaults",
)
_NAME_FIELDS = ("joint_names", "shape_names", "expr_names", "pose_names", "param_names")


class RigSpecError(ValueError):
    """A RigSpec file is missing, malformed or inconsistent."""


@dataclasses.dataclass(frozen=True, eq=False)
class RigSpec:
    """A body model's rig, mesh and blendshape bases. Shapes use J joints, V vertices, F faces."""

    model: str  # "anny", "smplx", "smplh", "smpl", "flame", "mano"
    joint_names: tuple[str, ...]  # (J,)
    parents: np.ndarray  # (J,) int32, -1 for the root
    rest_joints: np.ndarray  # (J, 3) float64, metres, at zero shape/expression
    rest_orient: np.ndarray  # (J, 3, 3) float64, bone rest frames (columns x, y, z)
    bone_tails: np.ndarray  # (J, 3) float64, display tails for Blender bones
    template: np.ndarray  # (V, 3) float64, rest vertices at zero shape/expression
    faces: np.ndarray  # (F, 3) int32 triangles
    skin_weights: np.ndarray  # (V, J) float32, rows sum to 1
    up_axis: str = "Y"
    gender: str = "neutral"
    uvs: np.ndarray | None = None  # (F, 3, 2) float32 per-corner UVs, or None
    shape_names: tuple[str, ...] = ()
    shape_dirs: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0, 3), np.float32))
    shape_joint_dirs: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0, 3), np.float32))
    shape_range: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2), np.float32))
    expr_names: tuple[str, ...] = ()
    expr_dirs: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0, 3), np.float32))
    expr_joint_dirs: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0, 3), np.float32))
    expr_range: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2), np.float32))
    pose_names: tuple[str, ...] = ()
    pose_dirs: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0, 3), np.float32))
    # Free-form model parameters the backend understands (e.g. Anny phenotypes), with their values.
    param_names: tuple[str, ...] = ()
    param_defaults: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0,), np.float32))
    metadata: dict = dataclasses.field(default_factory=dict)

    # -- sizes ------------------------------------------------------------------------------------------------
    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_vertices(self) -> int:
        return int(self.template.shape[0])

    def summary(self) -> dict:
        """Counts for display (``python -m backend bodymodel info``)."""
        return {
            "model": self.model,
            "gender": self.gender,
            "joints": self.num_joints,
            "vertices": self.num_vertices,
            "faces": int(self.faces.shape[0]),
            "shape_blendshapes": len(self.shape_names),
            "expression_blendshapes": len(self.expr_names),
            "pose_correctives": len(self.pose_names),
            "uvs": self.uvs is not None,
            "up_axis": self.up_axis,
        }

    # -- checks -----------------------------------------------------------------------------------------------
    def validate(self, source: str = "RigSpec") -> None:
        """Raise RigSpecError naming `source` if arrays disagree in size."""
        J, V = self.num_joints, self.num_vertices

        def need(cond: bool, what: str) -> None:
            if not cond:
                raise RigSpecError(f"{source}: {what}. Re-export it with `python -m backend bodymodel export-rig`.")

        need(self.parents.shape == (J,), f"parents has shape {self.parents.shape}, expected ({J},)")
        need(int(self.parents[0]) == -1, "joint 0 must be the root (parent -1)")
        need(bool(np.all(self.parents[1:] < np.arange(1, J))), "every parent must come before its child")
        need(self.rest_joints.shape == (J, 3), f"rest_joints has shape {self.rest_joints.shape}")
        need(self.rest_orient.shape == (J, 3, 3), f"rest_orient has shape {self.rest_orient.shape}")
        need(self.bone_tails.shape == (J, 3), f"bone_tails has shape {self.bone_tails.shape}")
        need(self.template.ndim == 2 and self.template.shape[1] == 3, "template must be (V, 3)")
        need(self.faces.ndim == 2 and self.faces.shape[1] == 3, "faces must be (F, 3) triangles")
        need(int(self.faces.max(initial=0)) < V, "faces index past the last vertex")
        need(self.skin_weights.shape == (V, J), f"skin_weights has shape {self.skin_weights.shape}, expected {(V, J)}")
        need(self.up_axis in ("Y", "Z"), f"up_axis is {self.up_axis!r}")
        for prefix, names in (("shape", self.shape_names), ("expr", self.expr_names)):
            K = len(names)
            dirs = getattr(self, f"{prefix}_dirs")
            need(dirs.shape == (K, V, 3) or (K == 0 and dirs.size == 0), f"{prefix}_dirs has shape {dirs.shape}")
            jd = getattr(self, f"{prefix}_joint_dirs")
            need(jd.shape == (K, J, 3) or (K == 0 and jd.size == 0), f"{prefix}_joint_dirs has shape {jd.shape}")
            rng = getattr(self, f"{prefix}_range")
            need(rng.shape == (K, 2) or (K == 0 and rng.size == 0), f"{prefix}_range has shape {rng.shape}")
        P = len(self.pose_names)
        need(P in (0, 9 * (J - 1)), f"{P} pose correctives; the SMPL feature needs 9*(J-1) = {9 * (J - 1)}")
        need(self.pose_dirs.shape == (P, V, 3) or (P == 0 and self.pose_dirs.size == 0),
             f"pose_dirs has shape {self.pose_dirs.shape}")
        if self.uvs is not None:
            need(self.uvs.shape == (self.faces.shape[0], 3, 2), f"uvs has shape {self.uvs.shape}")
        need(len(self.param_names) == self.param_defaults.shape[0], "param_names and param_defaults differ")

    # -- maths (numpy, no torch) -------------------------------------------------------------------------------
    def rest_state(self, shape: np.ndarray | None = None, expression: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Rest vertices (V, 3) and joints (J, 3) for shape (S,) and expression (E,) coefficients."""
        verts = self.template.astype(np.float64).copy()
        joints = self.rest_joints.astype(np.float64).copy()
        for coeffs, dirs, jdirs in ((shape, self.shape_dirs, self.shape_joint_dirs),
                                    (expression, self.expr_dirs, self.expr_joint_dirs)):
            if coeffs is None or len(coeffs) == 0:
                continue
            c = np.asarray(coeffs, dtype=np.float64)
            verts += np.tensordot(c, dirs[: len(c)], axes=1)
            joints += np.tensordot(c, jdirs[: len(c)], axes=1)
        return verts, joints

    def forward_kinematics(self, rotmats: np.ndarray, transl: np.ndarray | None = None,
                           rest_joints: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Global rotations (F, J, 3, 3) and posed joint positions (F, J, 3).

        rotmats: (F, J, 3, 3) local rotations in rest axes; transl: (F, 3) metres; rest_joints: (J, 3) from
        :meth:`rest_state` (defaults to zero shape).
        """
        rotmats = np.asarray(rotmats, dtype=np.float64)
        F, J = rotmats.shape[:2]
        rest = self.rest_joints if rest_joints is None else np.asarray(rest_joints, dtype=np.float64)
        G = np.empty_like(rotmats)
        heads = np.empty((F, J, 3))
        G[:, 0] = rotmats[:, 0]
        heads[:, 0] = rest[0] + (0.0 if transl is None else np.asarray(transl, dtype=np.float64))
        for j in range(1, J):
            p = int(self.parents[j])
            G[:, j] = G[:, p] @ rotmats[:, j]
            heads[:, j] = heads[:, p] + np.einsum("fab,b->fa", G[:, p], rest[j] - rest[p])
        return G, heads

    def pose_feature(self, rotmats: np.ndarray) -> np.ndarray:
        """(F, J, 3, 3) local rotations -> (F, 9 (J-1)) pose-corrective weights (SMPL's ``R_j - I``)."""
        rotmats = np.asarray(rotmats, dtype=np.float64)
        return (rotmats[:, 1:] - np.eye(3)).reshape(rotmats.shape[0], -1)

    def skin(self, rotmats: np.ndarray, transl: np.ndarray | None = None, shape: np.ndarray | None = None,
             expression: np.ndarray | None = None, pose_correctives: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Posed vertices (F, V, 3) and joints (F, J, 3) by linear blend skinning, in numpy."""
        verts, joints = self.rest_state(shape, expression)
        G, heads = self.forward_kinematics(rotmats, transl, joints)
        F = G.shape[0]
        verts = np.broadcast_to(verts, (F,) + verts.shape).copy()
        if pose_correctives and len(self.pose_names):
            feat = self.pose_feature(rotmats)
            verts += np.tensordot(feat, self.pose_dirs.astype(np.float64), axes=1)
        # Per-joint affine transforms: x -> G_j x + (head_j - G_j rest_j)
        offs = heads - np.einsum("fjab,jb->fja", G, joints)
        W = self.skin_weights.astype(np.float64)
        A = np.einsum("vj,fjab->fvab", W, G)
        b = np.einsum("vj,fja->fva", W, offs)
        return np.einsum("fvab,fvb->fva", A, verts) + b, heads

    # -- files ------------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the RigSpec to an uncompressed .npz (fast to load in Blender)."""
        path = Path(path)
        arrays = {name: getattr(self, name) for name in _ARRAY_FIELDS if getattr(self, name) is not None}
        for name in _NAME_FIELDS:
            arrays[name] = np.asarray(getattr(self, name), dtype=np.str_)
        header = {"version": RIGSPEC_VERSION, "model": self.model, "up_axis": self.up_axis, "gender": self.gender,
                  "metadata": self.metadata}
        arrays["header"] = np.asarray(json.dumps(header))
        return write_npz_atomic(path, arrays)

    @classmethod
    def load(cls, path: str | Path) -> "RigSpec":
        """Read a RigSpec .npz; a missing or malformed file raises RigSpecError naming it."""
        path = Path(path)
        if not path.is_file():
            raise RigSpecError(f"{path}: no such RigSpec file. Export one with "
                               "`python -m backend bodymodel export-rig --model anny -o rig.npz`.")
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                if header.get("version") != RIGSPEC_VERSION:
                    raise RigSpecError(f"{path}: RigSpec version {header.get('version')}, expected "
                                       f"{RIGSPEC_VERSION}; re-export it with this version of the backend.")
                kwargs = {name: data[name] for name in _ARRAY_FIELDS if name in data.files}
                for name in _NAME_FIELDS:
                    kwargs[name] = tuple(str(s) for s in data[name]) if name in data.files else ()
        except RigSpecError:
            raise
        except Exception as exc:  # zip/npz/json errors: name the file and the fix
            raise RigSpecError(f"{path}: not a readable RigSpec ({exc}). Re-export it with "
                               "`python -m backend bodymodel export-rig`.") from exc
        spec = cls(model=header["model"], up_axis=header.get("up_axis", "Y"), gender=header.get("gender", "neutral"),
                   metadata=header.get("metadata", {}), **kwargs)
        spec.validate(str(path))
        return spec
