"""Accuracy of an estimate against the sample clip's ground truth: MPJPE and PA-MPJPE of the body joints."""

from __future__ import annotations

import numpy as np
import torch

from backend.bodymodels.base import BodyModel
from backend.fitting.metrics import similarity_transform
from blender_addon.core.motion import Motion


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity-align pred (N, 3) to gt (N, 3) (rotation, scale, translation); returns aligned pred."""
    scale, R, t = similarity_transform(pred, gt)
    return scale * pred @ R.T + t


def joint_errors(model: BodyModel, truth: Motion, estimate: Motion, joints: list[str] | None = None) -> dict:
    """Mean per-joint position error (mm) with the root aligned, and after Procrustes alignment, per frame mean."""
    def posed(m: Motion) -> np.ndarray:
        with torch.no_grad():
            shape = torch.as_tensor(m.betas, dtype=torch.float32)[None, : model.num_shape] if len(m.betas) else None
            out = model(torch.as_tensor(m.rotvec, dtype=torch.float32), torch.as_tensor(m.transl, dtype=torch.float32),
                        shape=shape)
        return out.joints.numpy().astype(np.float64)

    names = joints or [n for n in model.joint_names if not n.startswith(("toe", "finger", "metacarpal", "eye"))]
    idx = [model.joint_names.index(n) for n in names]
    a, b = posed(estimate)[:, idx], posed(truth)[:, idx]
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    mpjpe = np.linalg.norm((a - a[:, :1]) - (b - b[:, :1]), axis=-1).mean()
    pa = np.mean([np.linalg.norm(procrustes_align(a[f], b[f]) - b[f], axis=-1).mean() for f in range(n)])
    return {"frames": int(n), "joints": len(idx), "mpjpe_mm": float(mpjpe * 1000), "pa_mpjpe_mm": float(pa * 1000)}
