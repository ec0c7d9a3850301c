"""Rendering a face avatar for any face motion (expression-driven): the head rasterized with the checkpoint's head
colour code through the motion's camera, the crop following the head at the training scale, the network's RGBA
pasted back into full source-sized frames (or kept as crops), as ``infer.render_motion`` does for bodies."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from backend.avatar import render
from backend.avatar.body import load_model
from backend.avatar.composite import frame_size, paste, write_png, write_sidecar
from backend.avatar.dataset import crop_intrinsics
from backend.avatar.face_dataset import CROP_MARGIN, SUBJECT, head_boxes, head_mesh, head_vertices
from backend.avatar.raster import project
from backend.avatar.train import compose_input, load_checkpoint, predict, select_device
from blender_addon.core.motion import Motion

log = logging.getLogger(__name__)


def subject_of(state: dict) -> str:
    """"face" or "body": what the checkpoint's dataset held (checkpoints from before face avatars are bodies)."""
    return str(state.get("data_meta", {}).get("subject", "body"))


def check_subject(path: str | Path, state: dict, want: str) -> None:
    """One error line naming the checkpoint and the fix when it was trained on the other subject."""
    have = subject_of(state)
    if have != want:
        fix = ("render it with `python -m backend avatar render` on a body motion" if have == "body" else
               "render it with `python -m backend avatar render --face` on a face motion")
        raise ValueError(f"{path}: a {have} avatar checkpoint, not a {want} one; {fix}, or train a {want} avatar "
                         f"(`python -m backend avatar train --subject {want}`).")


def render_face_motion(checkpoint: str | Path, motion_path: str | Path, out_dir: str | Path,
                       background=(0.0, 0.0, 0.0), device: str = "auto", batch: int = 16,
                       model_dir: str | None = None, frame: str = "full", frame_scale: float = 1.0,
                       progress: Callable | None = None) -> Path:
    """Render the face avatar for every frame of ``motion_path`` (its camera and expression) into
    ``out_dir/%05d.png`` (RGBA, straight alpha) and ``frames.json``; ``frame``: ``full`` (source-sized overlays)
    or ``crop`` (the network's crops). Returns ``out_dir``."""
    if frame not in ("full", "crop"):
        raise ValueError(f"frame {frame!r}: use 'full' (source-sized overlay) or 'crop' (the network's crops).")
    dev = select_device(device)
    net, state = load_checkpoint(checkpoint, dev)
    check_subject(checkpoint, state, SUBJECT)
    meta = state["data_meta"]
    motion = Motion.load(motion_path)
    if motion.model != meta["model"]:
        raise ValueError(f"{checkpoint}: the face avatar was trained with {meta['model']!r}, but {motion_path} is "
                         f"a {motion.model!r} motion; estimate the face with {meta['model']!r}.")
    if motion.camera is None:
        raise ValueError(f"{motion_path}: the motion has no camera; a face render needs the camera of the face fit.")
    spec, size = render.RasterSpec(**meta["raster"]), int(meta["size"])
    model = load_model(motion.model, model_dir=model_dir, gender=motion.gender)
    head = head_mesh(model)
    if len(head.vertex_index) != int(meta.get("head_vertices", len(head.vertex_index))):
        raise ValueError(f"{checkpoint}: trained on a {meta['head_vertices']}-vertex head, but this {model.name!r} "
                         f"model's head has {len(head.vertex_index)}; use the model files it was trained with.")
    cam = motion.camera
    n = motion.num_frames
    verts = head_vertices(model, head, motion)
    K, R, t = (torch.as_tensor(a, dtype=torch.float32) for a in (cam.K, cam.R, cam.t))
    boxes = head_boxes(project(verts, K, R, t)[1][..., :2].numpy(), cam.image_size,
                       float(meta.get("crop_margin", CROP_MARGIN)))
    Kc = torch.as_tensor(crop_intrinsics(cam.K, boxes, size), dtype=torch.float32)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bg = torch.as_tensor(background, dtype=torch.float32).view(1, 3, 1, 1)
    for s in range(0, n, batch):
        sl = slice(s, min(n, s + batch))
        x, cov = render.raster_inputs(verts[sl], Kc[sl], R[sl], t[sl], head.faces, head.code, size, spec)
        out = predict(net, compose_input(x, bg.expand(x.shape[0], -1, -1, -1)), batch, amp=dev.type == "cuda")
        band = torch.nn.functional.max_pool2d((cov > 0.05).float(), 2 * max(1, size // 16) + 1, stride=1,
                                              padding=max(1, size // 16))
        rgba = torch.cat([out[:, :3], out[:, 3:4] * band], 1).permute(0, 2, 3, 1).clamp(0, 1).numpy()
        for i, img in zip(range(sl.start, sl.stop), rgba):
            write_png(out_dir / f"{i:05d}.png", paste(img, boxes[i], cam.image_size, frame_scale)
                      if frame == "full" else img)
        if progress:
            progress("render", sl.stop, n, f"frame {sl.stop}/{n}")
    W, H = frame_size(cam.image_size, frame_scale) if frame == "full" else (size, size)
    write_sidecar(out_dir, {"frames": n, "pattern": "%05d.png", "frame": frame, "width": W, "height": H,
                            "source_size": list(cam.image_size), "frame_scale": frame_scale, "camera": "motion",
                            "fps": float(motion.fps), "network_size": size, "subject": SUBJECT,
                            "crop_boxes": boxes.astype(np.float64).round(3).tolist()})
    log.info("rendered %d face frames (%dx%d) of %s -> %s", n, W, H, motion_path, out_dir)
    return out_dir
