"""Body meshes for the avatar: load a body model, pose it from a Motion, and give the fixed per-vertex colour code."""

from __future__ import annotations

import logging

import numpy as np
import torch

from backend.bodymodels.base import BodyModel
from blender_addon.core.motion import Motion

log = logging.getLogger(__name__)


def load_model(name: str, model_dir: str | None = None, gender: str = "neutral",
               device: str | torch.device = "cpu") -> BodyModel:
    """The body model called ``name`` (any name :func:`backend.bodymodels.load_body_model` knows, including the
    built-in ``procedural`` test body) on ``device``."""
    from backend.bodymodels import load_body_model

    return load_body_model(name, model_dir=model_dir, gender=gender, device=device).to(device)


def colour_code(model: BodyModel) -> torch.Tensor:
    """(V, 3) in [0, 1]: the rest-pose (zero pose and shape) vertex positions, normalised per axis.

    The code is fixed per vertex, so pose and shape edits move the colours with the surface."""
    with torch.no_grad():
        rest = model(model.zero_pose(1)).vertices[0].float()
    lo, hi = rest.amin(0), rest.amax(0)
    return ((rest - lo) / (hi - lo).clamp(min=1e-6)).clamp(0, 1)


def motion_vertices(model: BodyModel, motion: Motion, frames: np.ndarray | None = None,
                    betas: np.ndarray | None = None, batch: int = 32) -> torch.Tensor:
    """World-space vertices (N, V, 3) metres of the motion's frames (all when ``frames`` is None).

    ``betas`` overrides the motion's shape (a shape edit); it is padded/truncated to the model's shape size."""
    if tuple(motion.joint_names) != tuple(model.joint_names) and motion.rotvec.shape[1] != model.num_joints:
        raise ValueError(f"motion has {motion.rotvec.shape[1]} joints but body model {model.name!r} has "
                         f"{model.num_joints}; estimate the motion with the same body model.")
    idx = np.arange(motion.num_frames) if frames is None else np.asarray(frames, int)
    dev = next(iter(model.buffers())).device
    shape_np = motion.betas if betas is None else np.asarray(betas, np.float32)
    shape = torch.zeros(1, model.num_shape, device=dev)
    n = min(model.num_shape, len(shape_np))
    if n:
        shape[0, :n] = torch.as_tensor(shape_np[:n], dtype=torch.float32, device=dev)
    expr = motion.expression_or_zeros()
    out = []
    with torch.no_grad():
        for s in range(0, len(idx), batch):
            sel = idx[s:s + batch]
            rot = torch.as_tensor(motion.rotvec[sel], dtype=torch.float32, device=dev)
            tr = torch.as_tensor(motion.transl[sel], dtype=torch.float32, device=dev)
            ex = None
            if model.num_expression and expr.shape[1]:
                ex = torch.zeros(len(sel), model.num_expression, device=dev)
                m = min(model.num_expression, expr.shape[1])
                ex[:, :m] = torch.as_tensor(expr[sel, :m], dtype=torch.float32, device=dev)
            out.append(model(rot, tr, shape, ex).vertices.float().cpu())
    return torch.cat(out)
