"""Avatar datasets from a multi-camera take: the body of a multi-camera fit (world coordinates, see
``backend.fitting.multiview_estimate``) rasterized through each calibrated view, against that view's (undistorted)
frames, in the layout of ``dataset.py``. Training views are split into training frames and a few validation frames;
the held-out view's frames are the test split (novel-view synthesis: the same instants, a camera never trained on).

Extra arrays in ``data.npz``: view (N,) int, the index of each sample's view in ``meta["views"]``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from backend.avatar import render
from backend.avatar.body import colour_code, load_model, motion_vertices
from backend.avatar.dataset import (SPLIT_NAMES, check_masks, crop_boxes, crop_image, crop_intrinsics,
                                    known_background, person_masks, read_video_frames)
from backend.avatar.dataset_write import write_dataset
from blender_addon.core.motion import Motion

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class ViewCamera:
    """One calibrated view of the take: K (3, 3) pixels, dist OpenCV k1, k2, p1, p2[, k3], R (3, 3) / t (3,)
    world -> camera (metres, OpenCV axes), image_size (W, H); video frame = take frame + offset."""

    name: str
    video: Path
    offset: int
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    image_size: tuple[int, int]


def motion_views(motion: Motion, motion_path: str | Path) -> list[ViewCamera]:
    """The views a multi-camera motion lists in ``metadata["views"]`` (ValueError naming the file when none)."""
    views = (motion.metadata or {}).get("views")
    if not views:
        raise ValueError(f"{motion_path}: not a multi-camera motion (no 'views' in its metadata); estimate it from "
                         "the calibrated videos: `python -m backend estimate CAM1 CAM2 ... --calibration CALIB -o "
                         "motion.npz`.")
    return [ViewCamera(v["name"], Path(v["video"]), int(v.get("offset", 0)), np.asarray(v["K"], np.float64),
                       np.asarray(v["dist"], np.float64), np.asarray(v["R"], np.float64),
                       np.asarray(v["t"], np.float64), tuple(int(s) for s in v["image_size"])) for v in views]


def view_index(views: list[ViewCamera], key: str | int) -> int:
    """The index of a view given by name (``cam04``) or index."""
    names = [v.name for v in views]
    if isinstance(key, int) or str(key).isdigit():
        k = int(key)
        if not 0 <= k < len(views):
            raise ValueError(f"view {k}: the take has views 0..{len(views) - 1} ({', '.join(names)}).")
        return k
    if key not in names:
        raise ValueError(f"view {key!r}: the take's views are {', '.join(names)}.")
    return names.index(key)


def view_samples(model, verts: torch.Tensor, view: ViewCamera, take_frames: np.ndarray, size: int,
                 spec: render.RasterSpec, mask_source: str = "auto") -> dict[str, np.ndarray]:
    """One view's samples: the world vertices verts (N, V, 3) rasterized through the view (pinhole K, R, t) into
    square crops following the person, against the view's frames undistorted to that pinhole camera. Returns the
    arrays of ``data.npz`` (inputs, frames, masks, crop, K) plus coverage (N, S, S) float."""
    n = len(verts)
    source = np.asarray(take_frames) + view.offset
    images = read_video_frames(view.video, source)
    missing = [int(f) for f in source if int(f) not in images]
    if missing:
        raise ValueError(f"{view.video}: frame {missing[0]} is missing (the video is shorter than the take); fit "
                         "the motion on the frames every view has.")
    K = torch.as_tensor(view.K, dtype=torch.float32).expand(n, 3, 3)
    R = torch.as_tensor(view.R, dtype=torch.float32).expand(n, 3, 3)
    t = torch.as_tensor(view.t, dtype=torch.float32).expand(n, 3)
    from backend.avatar.raster import project

    cam, screen = project(verts, K, R, t)
    xy = screen[..., :2].numpy()
    boxes = crop_boxes(np.concatenate([xy.min(1), xy.max(1)], 1), view.image_size, "per_frame")
    Kc = crop_intrinsics(np.repeat(view.K[None], n, 0), boxes, size)
    code = colour_code(model)
    inputs, coverage = [], []
    for s in range(0, n, 16):
        sl = slice(s, min(n, s + 16))
        x, cov = render.raster_inputs(verts[sl], torch.as_tensor(Kc[sl], dtype=torch.float32), R[sl], t[sl],
                                      model.faces, code, size, spec)
        inputs.append(render.to_uint8(x))
        coverage.append(cov[:, 0].numpy())
    coverage = np.concatenate(coverage)
    crops, valids = [], []
    for i, f in enumerate(source):
        img = cv2.undistort(images[int(f)], view.K, view.dist)  # the pinhole camera the raster uses
        c, v = crop_image(img, boxes[i], size)
        crops.append(c)
        valids.append(v)
    masks = person_masks(crops, coverage, size, mask_source)
    valid = known_background(np.stack(valids), coverage)
    masks_u8 = (np.stack([masks * valid, valid], 1) * 255).round().astype(np.uint8)
    return {"inputs": np.concatenate(inputs), "frames": np.stack(crops).transpose(0, 3, 1, 2), "masks": masks_u8,
            "crop": boxes, "K": Kc, "coverage": coverage}


def build_multiview_dataset(motion_path: str | Path, out_dir: str | Path, train_views: list[str | int],
                            test_view: str | int, size: int = 64, frames: np.ndarray | None = None,
                            spec: render.RasterSpec = render.RasterSpec(), mask_source: str = "auto",
                            val_every: int = 8, model_dir: str | None = None, progress=None) -> Path:
    """Build the novel-view dataset: ``train_views`` (names or indices) give training frames (every
    ``val_every``-th one validation), ``test_view`` the test frames; ``frames``: motion frame indices (default all).
    Returns the ``data.npz`` path."""
    motion = Motion.load(motion_path)
    views = motion_views(motion, motion_path)
    train_idx = [view_index(views, v) for v in train_views]
    test_idx = view_index(views, test_view)
    if test_idx in train_idx:
        raise ValueError(f"view {views[test_idx].name} is both a training and the test view; hold out another one.")
    sel = np.arange(motion.num_frames) if frames is None else np.asarray(frames, int)
    if len(sel) < 2:
        raise ValueError(f"{motion_path}: {len(sel)} frames; the novel-view dataset needs at least 2.")
    model = load_model(motion.model, model_dir=model_dir, gender=motion.gender)
    verts = motion_vertices(model, motion, sel)
    take_frames = motion.source_frames()[sel]
    parts, labels, view_of = [], [], []
    order = train_idx + [test_idx]
    for k, v in enumerate(order):
        parts.append(view_samples(model, verts, views[v], take_frames, size, spec, mask_source))
        if v == test_idx:
            lab = np.full(len(sel), 2, np.int8)
        else:
            lab = np.zeros(len(sel), np.int8)
            lab[val_every // 2::val_every] = 1
        labels.append(lab)
        view_of.append(np.full(len(sel), v, np.int64))
        if progress:
            progress(k + 1, len(order))
    arrays = {key: np.concatenate([p[key] for p in parts]) for key in ("inputs", "frames", "masks", "crop", "K")}
    labels, view_of = np.concatenate(labels), np.concatenate(view_of)
    coverage = np.concatenate([p["coverage"] for p in parts])
    check_masks(views[test_idx].video, motion_path, arrays["masks"], coverage, labels, meta_source=mask_source)
    arrays |= {"split": labels, "view": view_of, "frame_index": np.tile(take_frames, len(order)),
               "R": np.stack([views[v].R for v in view_of]), "t": np.stack([views[v].t for v in view_of])}
    ref, r0 = train_idx[0], len(sel) // 2  # the first training view's samples come first
    cam_c = views[ref].R @ verts[r0].double().numpy().T
    reference = {"frame": r0, "K": arrays["K"][r0].tolist(), "R": views[ref].R.tolist(), "t": views[ref].t.tolist(),
                 "crop_side": int(arrays["crop"][r0, 2]), "full_K": views[ref].K.tolist(),
                 "centroid_cam": (cam_c.mean(1) + views[ref].t).tolist()}
    meta = {"subject": "body", "motion": str(motion_path), "model": model.name, "size": size,
            "raster": dataclasses.asdict(spec), "channels": list(spec.channel_names), "crop_mode": "per_frame",
            "views": [v.name for v in views], "train_views": [views[v].name for v in train_idx],
            "test_view": views[test_idx].name, "video": str(views[test_idx].video),
            "image_size": list(views[test_idx].image_size), "masks": mask_source,
            "counts": {name: int((labels == k).sum()) for k, name in SPLIT_NAMES.items()}, "frames": int(len(sel)),
            "reference": reference, "betas": np.asarray(motion.betas, float).tolist(),
            "split": {"novel_view": views[test_idx].name, "val_every": val_every}}
    return write_dataset(out_dir, arrays, meta)
