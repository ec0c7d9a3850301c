"""Avatar dataset: video + Motion -> aligned (rasterized body, frame crop, person mask) at one square resolution.

Folder layout (``out_dir``):
- ``data.npz``: inputs (N, C, S, S) uint8 network input channels (see ``RasterSpec.channel_names``),
  frames (N, 3, S, S) uint8 RGB crops, masks (N, 2, S, S) uint8 (person, valid = supervised: inside the source
  image, or outside it far from the body, known background),
  frame_index (N,) the video frame of each motion frame (``Motion.source_frames``: frame_start + i * frame_stride),
  split (N,) int8 (0 train, 1 validation, 2 test, -1 gap), crop (N, 3) (x0, y0, side) source pixels,
  K (N, 3, 3) crop intrinsics.
- ``meta.json``: the RasterSpec, sources, split counts; ``preview/``: PNGs of the first frames (input | frame | mask).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from backend.avatar import render
from backend.avatar.body import colour_code, load_model, motion_vertices
from blender_addon.core.motion import Motion

log = logging.getLogger(__name__)

SPLIT_NAMES = {0: "train", 1: "val", 2: "test"}


@dataclasses.dataclass(frozen=True)
class SplitSpec:
    """Time-block split: the clip is cut into ``blocks`` segments, each ending with a validation then a test block,
    with ``gap`` dropped frames between blocks of different splits (so no test frame touches a training frame)."""

    val_frac: float = 0.1
    test_frac: float = 0.15
    blocks: int = 2
    gap: int = 3


def split_time_blocks(num_frames: int, spec: SplitSpec = SplitSpec()) -> np.ndarray:
    """(num_frames,) int8 labels: 0 train, 1 validation, 2 test, -1 gap (unused)."""
    labels = np.full(num_frames, -1, np.int8)
    edges = np.linspace(0, num_frames, spec.blocks + 1).round().astype(int)
    g = spec.gap
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        length = b - a
        n_test = max(1, round(length * spec.test_frac)) if spec.test_frac > 0 else 0
        n_val = max(1, round(length * spec.val_frac)) if spec.val_frac > 0 else 0
        last = k == spec.blocks - 1  # no training frames follow the last block
        n_train = length - n_test - n_val - g * ((n_test > 0) + (n_val > 0) + (not last))
        if n_train < 1:
            raise ValueError(f"{num_frames} frames are too few for {spec.blocks} split blocks with gap {g}; "
                             "use fewer blocks or a smaller gap.")
        pos = a
        labels[pos:pos + n_train] = 0
        pos += n_train + g
        if n_val:
            labels[pos:pos + n_val] = 1
            pos += n_val + g
        if n_test:
            labels[pos:pos + n_test] = 2
    return labels


def split_labels(video: str | Path, num_frames: int, spec: SplitSpec) -> np.ndarray:
    """``split_time_blocks`` with an error naming the video and the fix when the clip is too short."""
    try:
        return split_time_blocks(num_frames, spec)
    except ValueError:
        need = min_frames(spec)
        raise ValueError(f"{video}: {num_frames} frames are too few for the held-out split ({spec.blocks} time "
                         f"blocks with {spec.gap}-frame gaps need at least {need}); use a longer clip (at least "
                         f"{need} frames, or a wider --start/--end range) or fewer split blocks.") from None


def min_frames(spec: SplitSpec = SplitSpec()) -> int:
    """The fewest frames ``split_time_blocks`` accepts for ``spec``."""
    n = 1
    while True:
        try:
            split_time_blocks(n, spec)
            return n
        except ValueError:
            n += 1


def check_masks(video, motion_path, masks: np.ndarray, coverage: np.ndarray, labels: np.ndarray,
                meta_source: str) -> None:
    """Refuse a dataset the network cannot learn from: the body raster off every frame (the motion is not fitted
    to this video), or an empty person mask on the training or test frames. masks (N, 2, S, S) uint8, coverage
    (N, S, S) float."""
    if not (coverage > 0.05).any():
        raise ValueError(f"{motion_path}: the fitted body falls outside every frame of {video}; estimate the motion "
                         "from this video (`python -m backend estimate VIDEO -o motion.npz`).")
    person = (masks[:, 0] > 127).reshape(len(masks), -1).sum(1)
    for k, name in ((0, "training"), (2, "test")):
        sel = labels == k
        if sel.any() and not person[sel].any():
            raise ValueError(f"{video}: the person mask ({meta_source}) is empty on every {name} frame; check the "
                             "person is in view, or use --mask-source raster (the body silhouette).")
    empty = int((person == 0).sum())
    if empty:
        log.warning("%s: the person mask is empty on %d of %d frames", video, empty, len(person))


def read_video_frames(path: str | Path, indices: np.ndarray) -> dict[int, np.ndarray]:
    """RGB uint8 frames (H, W, 3) of a video file or an image folder, for the given 0-based source indices, read
    with the one frame reader (:class:`backend.perception.frames.FrameSource`: the same frames, rotation and image
    suffixes as detection saw). Indices past the end are left out."""
    from backend.perception.frames import FrameRange, FrameSource

    want = sorted(set(int(i) for i in indices))
    if not want:
        return {}
    wanted = set(want)
    source = FrameSource(path)  # FrameSourceError (a ValueError) names the file and the fix
    return {i: cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            for i, bgr in source.frames(FrameRange(want[0], want[-1] + 1, 1)) if i in wanted}


def crop_boxes(bbox: np.ndarray, image_size: tuple[int, int], mode: str = "per_frame", margin: float = 0.15,
               smooth: int = 5) -> np.ndarray:
    """Square crops (N, 3) int = (x0, y0, side) in source pixels around per-frame boxes (N, 4) x0, y0, x1, y1.

    ``per_frame``: one side for the whole clip (the largest box plus margin), centre following the (smoothed)
    person; ``fixed``: one crop covering every frame's box."""
    side = np.maximum(bbox[:, 2] - bbox[:, 0], bbox[:, 3] - bbox[:, 1])
    if mode == "fixed":
        lo, hi = bbox[:, :2].min(0), bbox[:, 2:].max(0)
        centre = np.repeat(((lo + hi) / 2)[None], len(bbox), 0)
        s = float((hi - lo).max()) * (1 + 2 * margin)
    elif mode == "per_frame":
        centre = (bbox[:, :2] + bbox[:, 2:]) / 2
        if smooth > 1 and len(centre) > 1:
            k = np.ones(smooth) / smooth
            pad = np.pad(centre, ((smooth // 2, smooth - 1 - smooth // 2), (0, 0)), mode="edge")
            centre = np.stack([np.convolve(pad[:, c], k, mode="valid") for c in range(2)], 1)
        s = float(side.max()) * (1 + 2 * margin)
    else:
        raise ValueError(f"crop mode {mode!r}: use 'per_frame' or 'fixed'.")
    s = max(int(np.ceil(s)), 8)
    x0 = np.floor(centre[:, 0] - s / 2).astype(int)
    y0 = np.floor(centre[:, 1] - s / 2).astype(int)
    return np.stack([x0, y0, np.full(len(bbox), s)], 1)


def known_background(valid: np.ndarray, coverage: np.ndarray, margin: float = 0.06) -> np.ndarray:
    """valid (N, S, S) in [0, 1] widened to the crop's parts outside the source image far (``margin`` of the side)
    from the body raster coverage (N, S, S): no person can be there, so the network learns an empty matte there
    rather than nothing (crops run past the image edges where the person nears them: left unknown, the matte grows an unsupervised grey
    band there)."""
    r = max(1, int(round(margin * valid.shape[-1])))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    near = np.stack([cv2.dilate((c > 0.05).astype(np.uint8), kernel) for c in coverage]).astype(np.float32)
    return np.maximum(valid, 1 - near)


def crop_image(img: np.ndarray, box: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop (x0, y0, side) out of img (H, W, C), padding with zeros, resized to size^2 (area filter).

    Returns (crop (size, size, C) same dtype, valid (size, size) float32 in [0, 1])."""
    x0, y0, s = (int(v) for v in box)
    H, W = img.shape[:2]
    valid = np.zeros((s, s), np.float32)
    out = np.zeros((s, s) + img.shape[2:], img.dtype)
    ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + s, W), min(y0 + s, H)
    if ax1 > ax0 and ay1 > ay0:
        out[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0] = img[ay0:ay1, ax0:ax1]
        valid[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0] = 1
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(out, (size, size), interpolation=interp), cv2.resize(valid, (size, size), interpolation=interp)


def crop_intrinsics(K: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Intrinsics (N, 3, 3) of the size^2 crops (x0, y0, side) of images with intrinsics K (N, 3, 3)."""
    Kc = np.array(K, np.float64, copy=True)
    scale = size / boxes[:, 2].astype(np.float64)
    Kc[:, 0, 2] = (Kc[:, 0, 2] - boxes[:, 0] + 0.5) * scale - 0.5
    Kc[:, 1, 2] = (Kc[:, 1, 2] - boxes[:, 1] + 0.5) * scale - 0.5
    Kc[:, 0, :2] *= scale[:, None]
    Kc[:, 1, 1] *= scale
    return Kc


def find_keypoints(video: str | Path, where: str | Path, num_frames: int) -> Path | None:
    """The perception cache file (``keypoints_*.npz`` in the folder ``where``, or ``where`` itself) made from
    ``video`` with person masks for at least ``num_frames`` frames, or None."""
    where = Path(where)
    files = [where] if where.is_file() else sorted(where.glob("keypoints_*.npz")) if where.is_dir() else []
    for f in files:
        try:
            with np.load(f, allow_pickle=False) as d:
                header = json.loads(str(d["header"]))
                ok = (Path(header.get("source", "")).resolve() == Path(video).resolve() and d["masks"].ndim == 3
                      and d["masks"].shape[1] > 0 and len(d["frame_indices"]) >= num_frames)
        except Exception:  # not a keypoints file
            continue
        if ok:
            return f
    return None


def keypoint_masks(path: Path, boxes: np.ndarray, image_size: tuple[int, int], size: int,
                   source_frames: np.ndarray | None = None) -> np.ndarray:
    """Person masks (N, size, size) float32 of the crops ``boxes`` (x0, y0, side), resampled from the perception
    cache's full-frame low-resolution masks; dataset frame i is video frame ``source_frames[i]`` (default i)."""
    with np.load(path, allow_pickle=False) as d:
        masks, index = d["masks"], d["frame_indices"]
    lookup = {int(f): k for k, f in enumerate(index)}
    mh, mw = masks.shape[1:]
    sx, sy = mw / image_size[0], mh / image_size[1]
    out = np.zeros((len(boxes), size, size), np.float32)
    source = np.arange(len(boxes)) if source_frames is None else np.asarray(source_frames)
    for i, (x0, y0, side) in enumerate(boxes):
        if int(source[i]) not in lookup:
            continue
        a = side / size
        # crop pixel centre u' -> source u = (u' + 0.5) a - 0.5 + x0 -> mask (u + 0.5) s - 0.5
        M = np.array([[a * sx, 0, (0.5 * a + x0) * sx - 0.5], [0, a * sy, (0.5 * a + y0) * sy - 0.5]], np.float32)
        m = masks[lookup[int(source[i])]].astype(np.float32) / 255
        out[i] = cv2.warpAffine(m, M, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    return out


def person_masks(frames: list[np.ndarray], coverage: np.ndarray, size: int, source: str = "auto",
                 cached: np.ndarray | None = None) -> np.ndarray:
    """Person masks (N, size, size) float32, restricted to a wide dilation of the body raster (other people out):
    ``cached`` masks from the perception cache when given (``auto``/``keypoints``), else MediaPipe selfie
    segmentation of the crops (``mediapipe``; ``auto`` when it imports), else the body raster dilated by ~4 % of
    the crop (``raster``)."""
    r = max(1, int(round(0.04 * size)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    dilated = np.stack([cv2.dilate((c > 0.05).astype(np.uint8), kernel) for c in coverage]).astype(np.float32)
    if source == "raster":
        return dilated
    if cached is not None and source in ("auto", "keypoints"):
        wide = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (6 * r + 1, 6 * r + 1))
        region = np.stack([cv2.dilate((c > 0.05).astype(np.uint8), wide) for c in coverage]).astype(np.float32)
        return np.clip(cached, 0, 1) * region
    if source == "keypoints":
        raise ValueError("mask source 'keypoints' needs the perception cache file (--keypoints).")
    try:
        from mediapipe.python.solutions.selfie_segmentation import SelfieSegmentation
    except ImportError:
        if source == "mediapipe":
            raise
        return dilated
    wide = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (6 * r + 1, 6 * r + 1))
    out = []
    with SelfieSegmentation(model_selection=0) as seg:
        for img, cov in zip(frames, coverage):
            m = seg.process(img).segmentation_mask
            m = np.zeros((size, size), np.float32) if m is None else cv2.resize(m, (size, size))
            region = cv2.dilate((cov > 0.05).astype(np.uint8), wide).astype(np.float32)
            out.append(np.clip(m, 0, 1) * region)
    return np.stack(out).astype(np.float32)


def build_dataset(video: str | Path, motion_path: str | Path, out_dir: str | Path, size: int = 128,
                  model_name: str | None = None, model_dir: str | None = None,
                  spec: render.RasterSpec = render.RasterSpec(), split: SplitSpec = SplitSpec(),
                  crop_mode: str = "per_frame", mask_source: str = "auto", max_frames: int | None = None,
                  keypoints: str | Path | None = None, progress=None) -> Path:
    """Build the dataset folder; returns the ``data.npz`` path. ``progress(done, total)`` is called per chunk.

    keypoints: the perception cache (a ``keypoints_*.npz`` file or a folder of them) whose person masks to use."""
    motion = Motion.load(motion_path)
    if motion.camera is None:
        raise ValueError(f"{motion_path}: the motion has no camera (cam_K/cam_R/cam_t); the avatar needs the "
                         "camera the video was fitted with.")
    model = load_model(model_name or motion.model, model_dir=model_dir, gender=motion.gender)
    n = motion.num_frames if max_frames is None else min(max_frames, motion.num_frames)
    source = motion.source_frames()[:n]  # motion frame i is video frame frame_start + i * frame_stride
    frames_src = read_video_frames(video, source)
    readable = next((i for i, f in enumerate(source.tolist()) if f not in frames_src), n)
    if readable < n:
        log.warning("%s ends before the motion's video frame %d: using the first %d of %d motion frames", video,
                    int(source[readable]), readable, n)
        n, source = readable, source[:readable]
    if n < 8:
        raise ValueError(f"{video}: only {n} frames readable; the avatar needs at least 8.")
    labels = split_labels(video, n, split)  # before the long work: a clip too short for the held-out split
    cam = motion.camera
    verts = motion_vertices(model, motion, np.arange(n))
    code = colour_code(model)
    K, R, t = (torch.as_tensor(a[:n], dtype=torch.float32) for a in (cam.K, cam.R, cam.t))
    from backend.avatar.raster import project

    _, screen = project(verts, K, R, t)
    xy = screen[..., :2].numpy()
    bbox = np.concatenate([xy.min(1), xy.max(1)], 1)
    boxes = crop_boxes(bbox, cam.image_size, crop_mode)
    Kc = crop_intrinsics(cam.K[:n], boxes, size)
    inputs, coverage = [], []
    chunk = 16
    for s in range(0, n, chunk):
        sl = slice(s, min(n, s + chunk))
        x, cov = render.raster_inputs(verts[sl], torch.as_tensor(Kc[sl], dtype=torch.float32), R[sl], t[sl],
                                      model.faces, code, size, spec)
        inputs.append(render.to_uint8(x))
        coverage.append(cov[:, 0].numpy())
        if progress:
            progress(sl.stop, n)
    inputs = np.concatenate(inputs)
    coverage = np.concatenate(coverage)
    crops, valids = zip(*(crop_image(frames_src[int(source[i])], boxes[i], size) for i in range(n)))
    cached, kp_file = None, None
    if keypoints is not None and mask_source in ("auto", "keypoints"):
        kp_file = find_keypoints(video, keypoints, n)
        if kp_file is None:
            log.warning("no person masks for %s in %s; using %s masks", video, keypoints,
                        "raster" if mask_source == "keypoints" else "MediaPipe")
        else:
            cached = keypoint_masks(kp_file, boxes, cam.image_size, size, source)
    masks = person_masks(list(crops), coverage, size, mask_source if cached is not None or mask_source != "keypoints"
                         else "raster", cached)
    frames = np.stack(crops).transpose(0, 3, 1, 2)
    valid = known_background(np.stack(valids), coverage)
    masks_u8 = (np.stack([masks * valid, valid], 1) * 255).round().astype(np.uint8)
    check_masks(video, motion_path, masks_u8, coverage, labels, meta_source=str(kp_file or mask_source))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "data.npz"
    tmp = out_dir / "data.npz.part"
    with open(tmp, "wb") as fh:
        np.savez(fh, inputs=inputs, frames=frames, masks=masks_u8, frame_index=source, split=labels,
                 crop=boxes, K=Kc, R=cam.R[:n], t=cam.t[:n])
    tmp.replace(path)
    train_sel = np.nonzero(labels == 0)[0]
    cam_all = torch.einsum("bij,bvj->bvi", R, verts) + t[:, None]
    ref = int(train_sel[len(train_sel) // 2]) if len(train_sel) else 0
    reference = {"frame": ref, "K": Kc[ref].tolist(), "R": cam.R[ref].tolist(), "t": cam.t[ref].tolist(),
                 "crop_side": int(boxes[ref, 2]), "full_K": cam.K[ref].tolist(),
                 "centroid_cam": cam_all[ref].mean(0).tolist()}
    meta = {"video": str(video), "motion": str(motion_path), "model": model.name, "size": size,
            "raster": dataclasses.asdict(spec), "channels": list(spec.channel_names), "crop_mode": crop_mode,
            "split": dataclasses.asdict(split), "image_size": list(cam.image_size),
            "masks": str(kp_file) if kp_file is not None else mask_source,
            "counts": {name: int((labels == k).sum()) for k, name in SPLIT_NAMES.items()}, "frames": n,
            "reference": reference, "betas": np.asarray(motion.betas, float).tolist()}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    prev = out_dir / "preview"
    prev.mkdir(exist_ok=True)
    for i in range(0, n, max(1, n // 8)):
        row = np.concatenate([inputs[i, :3].transpose(1, 2, 0), frames[i].transpose(1, 2, 0),
                              np.repeat(masks_u8[i, :1].transpose(1, 2, 0), 3, 2)], 1)
        cv2.imwrite(str(prev / f"{i:05d}.png"), cv2.cvtColor(row, cv2.COLOR_RGB2BGR))
    log.info("avatar dataset %s: %d frames at %d px (%s)", out_dir, n, size, meta["counts"])
    return path


@dataclasses.dataclass(frozen=True, eq=False)
class AvatarData:
    """A loaded dataset (uint8 tensors, see the module doc) and its metadata."""

    inputs: torch.Tensor
    frames: torch.Tensor
    masks: torch.Tensor
    split: np.ndarray
    meta: dict

    def indices(self, name: str) -> np.ndarray:
        key = {v: k for k, v in SPLIT_NAMES.items()}[name]
        return np.nonzero(self.split == key)[0]


def load_dataset(path: str | Path) -> AvatarData:
    """Load ``data.npz`` (or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "data.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no avatar dataset; build one with `python -m backend avatar train "
                                "--video ... --motion ...` or backend.avatar.dataset.build_dataset.")
    meta_path = path.parent / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    with np.load(path) as d:
        return AvatarData(inputs=torch.from_numpy(d["inputs"]), frames=torch.from_numpy(d["frames"]),
                          masks=torch.from_numpy(d["masks"]), split=d["split"], meta=meta)
