"""Synthetic avatar clips: the procedural body in a periodic motion, textured with a known function of the colour
code and lit by its normals, over a static background. Used by tests and benchmarks; the mapping from raster to frame
is learnable, so a trained avatar must beat the copy-the-input baseline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from backend.avatar.body import colour_code
from backend.bodymodels.procedural import ProceduralBody
from backend.avatar.raster import render_channels, vertex_normals
from blender_addon.core.motion import Camera, Motion


def synthetic_motion(frames: int = 48, image_size: tuple[int, int] = (160, 120), period: float = 12.0,
                     fps: float = 30.0) -> Motion:
    """A periodic walk-and-wave motion of the procedural body seen by a fixed camera 3.2 m away."""
    t = np.arange(frames) / period * 2 * np.pi
    rot = np.zeros((frames, 11, 3))
    rot[:, 0, 1] = 0.35 * np.sin(t / 2)  # pelvis turns
    rot[:, 3, 2] = -0.9 + 0.6 * np.sin(t)  # left arm waves
    rot[:, 4, 2] = -0.5 * (1 + np.sin(t + 1))
    rot[:, 5, 2] = 0.9 + 0.4 * np.sin(t + 2)
    rot[:, 7, 0] = 0.5 * np.sin(t)  # legs swing
    rot[:, 9, 0] = -0.5 * np.sin(t)
    rot[:, 8, 0] = 0.4 * (1 + np.cos(t))
    rot[:, 10, 0] = 0.4 * (1 - np.cos(t))
    transl = np.stack([0.15 * np.sin(t / 3), 0.05 * np.abs(np.sin(t)), np.zeros(frames)], 1)
    w, h = image_size
    f = 1.1 * h
    K = np.repeat(np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])[None], frames, 0)
    R = np.repeat(np.diag([1.0, -1.0, -1.0])[None], frames, 0)  # world Y up -> camera y down, looking along -Z
    tc = np.repeat(np.array([[0.0, 0.9, 3.2]]), frames, 0)
    names = ProceduralBody().joint_names
    return Motion(model="procedural", fps=fps, joint_names=names, rotvec=rot, transl=transl,
                  betas=np.zeros(2, np.float32), camera=Camera(K=K, R=R, t=tc, image_size=(w, h)))


def texture(code: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    """The synthetic person's appearance (B, 3, H, W) from colour code and camera-space normals (B, 3, H, W)."""
    stripes = 0.5 + 0.4 * torch.sin(2 * np.pi * 2.5 * code[:, 1:2] + torch.tensor([0.0, 2.0, 4.0]).view(1, 3, 1, 1))
    light = torch.tensor([0.3, -0.5, -0.8]).view(1, 3, 1, 1)
    shade = 0.35 + 0.65 * (-(normal * light).sum(1, keepdim=True) / light.norm()).clamp(min=0)
    return (stripes * shade).clamp(0, 1)


def background(width: int, height: int) -> np.ndarray:
    """A static smooth RGB background (H, W, 3) float in [0, 1]."""
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    return np.stack([0.3 + 0.2 * np.sin(6 * xx), 0.4 + 0.2 * np.cos(5 * yy), 0.5 + 0.1 * np.sin(4 * (xx + yy))], -1)


def render_shaded(vertices: torch.Tensor, cam: Camera, frames: np.ndarray, faces: torch.Tensor,
                  colour: torch.Tensor, shade, supersample: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """World ``vertices`` (B, V, 3) of ``frames`` (B,) seen by ``cam``, each vertex coloured ``colour`` (V, 3) and lit
    by ``shade(colour (B, 3, H, W), unit normal (B, 3, H, W)) -> (B, 3, H, W)`` -> (image (B, 3, H, W), coverage
    (B, 1, H, W)); the image is meaningful where the coverage is > 0."""
    w, h = cam.image_size
    R = torch.as_tensor(cam.R[frames], dtype=torch.float32)
    t = torch.as_tensor(cam.t[frames], dtype=torch.float32)
    camv = torch.einsum("bij,bvj->bvi", R, vertices) + t[:, None]
    attrs = torch.cat([colour[None].expand(len(vertices), -1, -1), vertex_normals(camv, faces)], -1)
    img, cov = render_channels(camv, torch.as_tensor(cam.K[frames], dtype=torch.float32), faces, h, w, attrs,
                               supersample)
    c = img[:, :3] / cov.clamp(min=1e-6)
    n = torch.nn.functional.normalize(img[:, 3:6], dim=1)
    return shade(c, n), cov


def render_synthetic_frames(motion: Motion, supersample: int = 2) -> np.ndarray:
    """Frames (F, H, W, 3) uint8 RGB of the procedural body in ``motion`` (which must carry a camera)."""
    model = ProceduralBody()
    code = colour_code(model)
    cam = motion.camera
    w, h = cam.image_size
    bg = torch.as_tensor(background(w, h), dtype=torch.float32).permute(2, 0, 1)[None]
    out = []
    with torch.no_grad():
        for s in range(0, motion.num_frames, 16):
            sl = slice(s, s + 16)
            v = model(torch.as_tensor(motion.rotvec[sl], dtype=torch.float32),
                      torch.as_tensor(motion.transl[sl], dtype=torch.float32)).vertices
            rgb, cov = render_shaded(v, cam, np.arange(s, s + len(v)), model.faces, code, texture, supersample)
            frame = rgb * cov + bg * (1 - cov)
            out.append((frame.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))
    return np.concatenate(out)


def write_synthetic_clip(out_dir: str | Path, frames: int = 48, image_size: tuple[int, int] = (160, 120),
                         period: float = 12.0) -> tuple[Path, Path]:
    """Write ``frames/%05d.png`` and ``motion.npz`` under ``out_dir``; returns (frames folder, motion path)."""
    out_dir = Path(out_dir)
    motion = synthetic_motion(frames, image_size, period)
    imgs = render_synthetic_frames(motion)
    folder = out_dir / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(imgs):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return folder, motion.save(out_dir / "motion.npz")
