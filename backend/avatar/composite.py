"""Full-frame, composite-ready avatar frames: the network's square crop put back where the person is in the source
frame, as straight-alpha RGBA at the source video's size (or a scale of it).

A crop box is (x0, y0, side) in source pixels (OpenCV pixel centres, as in ``dataset.crop_image``): crop pixel u'
of an S-pixel crop is source pixel u = (u' + 0.5) side / S - 0.5 + x0.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np


def crop_box_of(K_crop: np.ndarray, K_full: np.ndarray, size: int) -> np.ndarray:
    """The crop box (3,) (x0, y0, side) of the size^2 crop whose intrinsics are K_crop, cut from an image with
    intrinsics K_full (the inverse of ``dataset.crop_intrinsics``)."""
    scale = float(K_crop[0, 0]) / float(K_full[0, 0])
    side = size / scale
    x0 = K_full[0, 2] + 0.5 - (K_crop[0, 2] + 0.5) / scale
    y0 = K_full[1, 2] + 0.5 - (K_crop[1, 2] + 0.5) / scale
    return np.array([x0, y0, side], np.float64)


def frame_size(image_size: tuple[int, int], scale: float = 1.0) -> tuple[int, int]:
    """(width, height) of the output frames: the source size times ``scale`` (at least 1 px)."""
    return max(1, round(image_size[0] * scale)), max(1, round(image_size[1] * scale))


def paste(rgba: np.ndarray, box: np.ndarray, image_size: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """Place a straight-alpha crop (S, S, 4) float [0, 1] at ``box`` (x0, y0, side) of a transparent frame of the
    source size ``image_size`` (W, H) times ``scale``; returns (H', W', 4) uint8, straight alpha.

    Resampled bilinearly with premultiplied colour (no dark fringes); outside the crop the frame is transparent."""
    S = rgba.shape[0]
    x0, y0, side = (float(v) for v in box)
    a = side / S * scale
    # source pixel u = (u' + 0.5) side / S - 0.5 + x0; output pixel U = (u + 0.5) scale - 0.5
    ox, oy = (0.5 * side / S + x0) * scale - 0.5, (0.5 * side / S + y0) * scale - 0.5
    W, H = frame_size(image_size, scale)
    out = np.zeros((H, W, 4), np.uint8)
    # only the crop's footprint is resampled (the rest of the frame stays transparent)
    X0, Y0 = max(0, int(np.floor(ox - a))), max(0, int(np.floor(oy - a)))
    X1, Y1 = min(W, int(np.ceil(ox + a * S + a)) + 1), min(H, int(np.ceil(oy + a * S + a)) + 1)
    if X1 <= X0 or Y1 <= Y0:
        return out
    M = np.array([[a, 0, ox - X0], [0, a, oy - Y0]], np.float32)
    pre = np.concatenate([rgba[..., :3] * rgba[..., 3:4], rgba[..., 3:4]], -1).astype(np.float32)
    interp = cv2.INTER_AREA if a < 1 else cv2.INTER_LINEAR
    roi = cv2.warpAffine(pre, M, (X1 - X0, Y1 - Y0), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = roi[..., 3:4]
    rgb = np.where(alpha > 1e-4, roi[..., :3] / np.maximum(alpha, 1e-4), 0.0)
    out[Y0:Y1, X0:X1] = to_u8(np.concatenate([rgb, alpha], -1))
    return out


def to_u8(img: np.ndarray) -> np.ndarray:
    """[0, 1] float image -> uint8 (rounded)."""
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def write_png(path: Path, rgba: np.ndarray) -> None:
    """Write a straight-alpha RGBA image (H, W, 4), uint8 or float in [0, 1], as an 8-bit PNG (fast compression)."""
    u8 = rgba if rgba.dtype == np.uint8 else to_u8(rgba)
    cv2.imwrite(str(path), cv2.cvtColor(u8, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, 1])


def write_sidecar(out_dir: Path, info: dict) -> Path:
    """``out_dir/frames.json``: how the frames sit over the source video (written atomically)."""
    path = out_dir / "frames.json"
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(path)
    return path
