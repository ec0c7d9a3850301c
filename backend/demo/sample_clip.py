"""Render the demo's sample clip: Anny performing the built-in motion, clothed in flat colours and lit, over a
textured backdrop — a video the project can ship by generating it, with its ground-truth motion."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from backend.avatar.raster import render_channels, vertex_normals
from backend.bodymodels import load_body_model
from backend.demo.sample_motion import sample_motion
from blender_addon.core.motion import Motion

log = logging.getLogger(__name__)

_SKIN = np.array([0.86, 0.64, 0.52])
_SHIRT = np.array([0.80, 0.22, 0.18])
_TROUSERS = np.array([0.16, 0.24, 0.52])
_SHOES = np.array([0.10, 0.10, 0.10])


def clothing_colours(joint_names: tuple[str, ...], skin_weights: np.ndarray) -> np.ndarray:
    """(V, 3) albedo in [0, 1]: trousers on the legs, a shirt on the torso and upper arms, shoes, skin elsewhere."""
    def group(*prefixes: str) -> np.ndarray:
        cols = [j for j, n in enumerate(joint_names) if n.startswith(prefixes)]
        return skin_weights[:, cols].sum(1)

    colours = np.tile(_SKIN, (skin_weights.shape[0], 1))
    legs = group("pelvis", "upperleg", "lowerleg", "root")
    torso = group("spine", "clavicle", "shoulder", "upperarm")
    feet = group("foot", "toe")
    colours[legs > 0.5] = _TROUSERS
    colours[torso > 0.5] = _SHIRT
    colours[feet > 0.5] = _SHOES
    return colours


def backdrop(width: int, height: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) float image: a warm wall with soft stripes above a tiled floor."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    horizon = 0.72 * height
    wall = np.stack([0.62 + 0.05 * np.sin(x / 23.0), 0.66 + 0.03 * np.sin(y / 31.0), 0.58 + 0.0 * x], -1)
    tiles = ((np.floor(x / 48) + np.floor((y - horizon) / 24)) % 2)[..., None]
    floor = 0.35 + 0.12 * tiles * np.array([1.0, 0.9, 0.8])
    img = np.where((y >= horizon)[..., None], floor, wall)
    return np.clip(img + rng.normal(0, 0.01, img.shape), 0, 1)


def render_clip(out_video: str | Path, frames: int = 90, fps: float = 30.0, size: int = 512,
                batch: int = 8) -> tuple[Path, Path]:
    """Write the sample clip (.mp4) and its ground-truth motion (``<name>_truth.npz``); return both paths."""
    import cv2

    out_video = Path(out_video)
    out_video.parent.mkdir(parents=True, exist_ok=True)
    model = load_body_model("anny")
    motion: Motion = sample_motion(model.joint_names, frames=frames, fps=fps, width=size, height=size)
    spec = model.rig_spec()
    albedo = torch.tensor(clothing_colours(spec.joint_names, spec.skin_weights), dtype=torch.float32)
    bg = backdrop(size, size)
    light = torch.tensor([-0.4, -0.6, 0.7])
    light = light / light.norm()
    tmp = out_video.with_name(out_video.stem + ".part.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    if not writer.isOpened():
        raise RuntimeError(f"{out_video}: OpenCV cannot write mp4 video here")
    cam = motion.camera
    try:
        for start in range(0, frames, batch):
            idx = np.arange(start, min(frames, start + batch))
            with torch.no_grad():
                out = model(torch.tensor(motion.rotvec[idx], dtype=torch.float32),
                            torch.tensor(motion.transl[idx], dtype=torch.float32))
                R = torch.tensor(cam.R[idx], dtype=torch.float32)
                t = torch.tensor(cam.t[idx], dtype=torch.float32)
                K = torch.tensor(cam.K[idx], dtype=torch.float32)
                verts_cam = torch.einsum("bij,bvj->bvi", R, out.vertices) + t[:, None]
                normals = vertex_normals(out.vertices, model.faces)
                lambert = (normals @ light).clamp(min=0)[..., None]
                colour = albedo[None] * (0.35 + 0.75 * lambert)
                img, cov = render_channels(verts_cam, K, model.faces, size, size, colour.clamp(0, 1), supersample=2)
            img = img.permute(0, 2, 3, 1).numpy()
            cov = cov.permute(0, 2, 3, 1).numpy()
            for i in range(len(idx)):
                frame = img[i] + (1 - cov[i]) * bg
                writer.write(cv2.cvtColor((frame * 255).clip(0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
            log.info("sample clip: %d/%d frames", idx[-1] + 1, frames)
    finally:
        writer.release()
    tmp.replace(out_video)
    truth = motion.save(out_video.with_name(out_video.stem + "_truth.npz"))
    return out_video, truth
