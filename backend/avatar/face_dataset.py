"""Face avatars: the dataset of a face close-up from a face-only estimate (FLAME, or Anny's head with its ARKit facial
actions), in the same ``data.npz`` / ``meta.json`` layout as the body avatar (see ``dataset.py``), so the one trainer
and evaluator serve both.

What differs from the body dataset: only the head is rasterized (FLAME is all head; for other models the vertices
skinned mostly to the head, jaw and eyes, and the triangles between them), its colour code is normalised over the
head (so the face spans the whole code range, not 12 % of a body's), the crop follows the projected head, and the
expression coefficients of the motion move the surface (mouth, lids, brows: the network sees the expression in the
raster). The person mask defaults to the head's own silhouette (``raster``: exact for a rendered clip; hair and
neck outside the model are not learnt); ``mediapipe`` uses selfie segmentation inside a band around the head.
``meta.json`` records ``subject: "face"``; a checkpoint trained on it refuses body data and vice versa.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch

from backend.avatar import render
from backend.avatar.body import load_model, motion_vertices
from backend.avatar.dataset_write import write_dataset
from backend.avatar.dataset import (SPLIT_NAMES, SplitSpec, check_masks, crop_boxes, crop_image, crop_intrinsics,
                                    person_masks, read_video_frames, split_labels)
from blender_addon.core.motion import Motion

log = logging.getLogger(__name__)

SUBJECT = "face"
HEAD_JOINTS = ("head", "jaw", "eye.L", "eye.R", "left_eye", "right_eye", "left_eye_smplhf", "right_eye_smplhf")
CROP_MARGIN = 0.2  # of the head's projected box, each side


@dataclasses.dataclass(frozen=True, eq=False)
class HeadMesh:
    """The rasterized part of a face avatar: vertex_index (Vh,) into the model's vertices, faces (Fh, 3) into the
    head vertices, code (Vh, 3) the colour code in [0, 1] (rest positions normalised over the head)."""

    vertex_index: torch.Tensor
    faces: torch.Tensor
    code: torch.Tensor


def head_vertex_mask(model) -> np.ndarray:
    """(V,) bool: the head's vertices: every vertex of FLAME; else those whose skinning weights on the head, jaw and
    eye joints sum above 0.5."""
    with torch.no_grad():
        V = model(model.zero_pose(1)).vertices.shape[1]
    if model.name == "flame":
        return np.ones(V, bool)
    names = [n for n in HEAD_JOINTS if n in model.joint_names]
    if not names:
        raise ValueError(f"body model {model.name!r} has no head joint ({', '.join(HEAD_JOINTS[:3])}); a face "
                         "avatar needs FLAME or a model with a head (Anny, SMPL-X).")
    weights = np.asarray(model.rig_spec().skin_weights, np.float64)
    cols = [model.joint_names.index(n) for n in names]
    return weights[:, cols].sum(1) > 0.5


def head_mesh(model) -> HeadMesh:
    """The head part of ``model`` (see :func:`head_vertex_mask`) with its own colour code."""
    keep = head_vertex_mask(model)
    faces = model.faces.cpu().numpy()
    tri = faces[keep[faces].all(1)]
    index = np.nonzero(keep)[0]
    remap = np.full(len(keep), -1, np.int64)
    remap[index] = np.arange(len(index))
    with torch.no_grad():
        rest = model(model.zero_pose(1)).vertices[0, torch.as_tensor(index)].float()
    lo, hi = rest.amin(0), rest.amax(0)
    code = ((rest - lo) / (hi - lo).clamp(min=1e-6)).clamp(0, 1)
    return HeadMesh(torch.as_tensor(index), torch.as_tensor(remap[tri]), code)


def is_face_motion(motion: Motion) -> bool:
    """Whether a motion is a face-only estimate: FLAME, a face fit (``metadata.metrics.part == "face"``) or one
    marked ``metadata.subject == "face"`` (the synthetic face clip)."""
    meta = motion.metadata or {}
    return (motion.model == "flame" or meta.get("subject") == SUBJECT
            or (meta.get("metrics") or {}).get("part") == SUBJECT)


def head_boxes(screen_xy: np.ndarray, image_size: tuple[int, int], margin: float = CROP_MARGIN) -> np.ndarray:
    """Square crops (N, 3) (x0, y0, side) source pixels around the projected head vertices screen_xy (N, Vh, 2):
    one side for the clip (the largest head plus margin), centred on each frame's (smoothed) head."""
    bbox = np.concatenate([screen_xy.min(1), screen_xy.max(1)], 1)
    return crop_boxes(bbox, image_size, "per_frame", margin=margin)


def face_masks(crops: list[np.ndarray], coverage: np.ndarray, size: int, source: str) -> np.ndarray:
    """Person (face) masks (N, size, size) float32: ``raster`` / ``auto`` the head silhouette itself (coverage),
    ``mediapipe`` selfie segmentation inside a band around it (``person_masks``)."""
    if source in ("raster", "auto"):
        return np.clip(coverage, 0, 1).astype(np.float32)
    if source == "mediapipe":
        return person_masks(crops, coverage, size, "mediapipe")
    raise ValueError(f"face mask source {source!r}: use 'raster' (the head silhouette) or 'mediapipe'.")


def head_vertices(model, head: HeadMesh, motion: Motion, frames: np.ndarray | None = None) -> torch.Tensor:
    """World head vertices (N, Vh, 3) metres of the motion's frames, its expression applied."""
    return motion_vertices(model, motion, frames)[:, head.vertex_index]


def build_face_dataset(video: str | Path, motion_path: str | Path, out_dir: str | Path, size: int = 128,
                       model_dir: str | None = None, spec: render.RasterSpec = render.RasterSpec(),
                       split: SplitSpec = SplitSpec(), mask_source: str = "raster", max_frames: int | None = None,
                       progress=None) -> Path:
    """Build a face dataset folder from a face close-up video and its face-only motion; returns ``data.npz``."""
    motion = Motion.load(motion_path)
    if motion.camera is None:
        raise ValueError(f"{motion_path}: the motion has no camera (cam_K/cam_R/cam_t); the avatar needs the "
                         "camera the video was fitted with.")
    model = load_model(motion.model, model_dir=model_dir, gender=motion.gender)
    head = head_mesh(model)
    n = motion.num_frames if max_frames is None else min(max_frames, motion.num_frames)
    source = motion.source_frames()[:n]
    frames_src = read_video_frames(video, source)
    n = next((i for i, f in enumerate(source.tolist()) if f not in frames_src), n)
    source = source[:n]
    if n < 8:
        raise ValueError(f"{video}: only {n} frames readable; the face avatar needs at least 8.")
    labels = split_labels(video, n, split)
    cam = motion.camera
    verts = head_vertices(model, head, motion, np.arange(n))
    K, R, t = (torch.as_tensor(a[:n], dtype=torch.float32) for a in (cam.K, cam.R, cam.t))
    from backend.avatar.raster import project

    _, screen = project(verts, K, R, t)
    boxes = head_boxes(screen[..., :2].numpy(), cam.image_size)
    Kc = crop_intrinsics(cam.K[:n], boxes, size)
    inputs, coverage = [], []
    for s in range(0, n, 16):
        sl = slice(s, min(n, s + 16))
        x, cov = render.raster_inputs(verts[sl], torch.as_tensor(Kc[sl], dtype=torch.float32), R[sl], t[sl],
                                      head.faces, head.code, size, spec)
        inputs.append(render.to_uint8(x))
        coverage.append(cov[:, 0].numpy())
        if progress:
            progress(sl.stop, n)
    inputs, coverage = np.concatenate(inputs), np.concatenate(coverage)
    crops, valids = zip(*(crop_image(frames_src[int(source[i])], boxes[i], size) for i in range(n)))
    masks = face_masks(list(crops), coverage, size, mask_source)
    valid = np.stack(valids)
    masks_u8 = (np.stack([masks * valid, valid], 1) * 255).round().astype(np.uint8)
    check_masks(video, motion_path, masks_u8, coverage, labels, meta_source=mask_source)
    arrays = {"inputs": inputs, "frames": np.stack(crops).transpose(0, 3, 1, 2), "masks": masks_u8,
              "frame_index": source, "split": labels, "crop": boxes, "K": Kc, "R": cam.R[:n], "t": cam.t[:n]}
    meta = {"subject": SUBJECT, "video": str(video), "motion": str(motion_path), "model": model.name, "size": size,
            "raster": dataclasses.asdict(spec), "channels": list(spec.channel_names), "crop_mode": "head",
            "crop_margin": CROP_MARGIN, "head_vertices": int(len(head.vertex_index)),
            "split": dataclasses.asdict(split), "image_size": list(cam.image_size), "masks": mask_source,
            "counts": {name: int((labels == k).sum()) for k, name in SPLIT_NAMES.items()}, "frames": n,
            "betas": np.asarray(motion.betas, float).tolist(),
            "expression": int(motion.expression_or_zeros().shape[1])}
    return write_dataset(out_dir, arrays, meta)
