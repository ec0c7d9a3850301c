"""Contact sheet: frames of a video with the fitted body mesh of a motion file drawn over them.

    python scripts/contact_sheet.py VIDEO MOTION.npz -o sheet.png [--frames 12] [--columns 4] [--width 480]
    [--keypoints keypoints.npz]  (also draws the detected MediaPipe body landmarks in green)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

log = logging.getLogger("contact_sheet")


def draw_mesh(image: np.ndarray, verts_cam: np.ndarray, faces: np.ndarray, K: np.ndarray,
              colour=(120, 170, 230), alpha: float = 0.6) -> np.ndarray:
    """Painter's-algorithm overlay of a mesh given in camera coordinates (V, 3) metres; returns a new image."""
    from backend.viz import visible_faces

    uv, idx, _, facing = visible_faces(verts_cam, faces, K)
    shade = 0.35 + 0.65 * facing[idx]
    layer = image.copy()
    pts = np.round(uv[faces[idx]] * 4).astype(np.int32)  # 2 bits of sub-pixel precision
    for p, s in zip(pts, shade):
        cv2.fillConvexPoly(layer, p, tuple(float(c * s) for c in colour), lineType=cv2.LINE_AA, shift=2)
    mask = np.zeros(image.shape[:2], np.uint8)
    for p in pts:
        cv2.fillConvexPoly(mask, p, 255, shift=2)
    out = image.copy()
    m = mask > 0
    out[m] = (alpha * layer[m] + (1 - alpha) * image[m]).astype(np.uint8)
    return out


def render_sheet(video: Path, motion_path: Path, out: Path, frames: int = 12, columns: int = 4, width: int = 480,
                 keypoints: Path | None = None, model_dir: Path | None = None, first: int = 0, last: int | None = None,
                 crop: bool = True) -> Path:
    """Write a grid of ``frames`` frames (motion frames ``first``..``last``) with the mesh overlaid; with ``crop``
    each tile is cut around the person."""
    import torch

    from backend.bodymodels import load_body_model
    from backend.perception.frames import FrameRange, FrameSource
    from blender_addon.core.motion import Motion

    motion = Motion.load(motion_path)
    if motion.camera is None:
        raise SystemExit(f"{motion_path}: the motion has no camera; it cannot be overlaid on the video.")
    model = load_body_model(motion.model, model_dir=model_dir)
    start = motion.frame_start
    stride = motion.frame_stride
    last = motion.num_frames - 1 if last is None else min(last, motion.num_frames - 1)
    picks = np.unique(np.linspace(first, last, min(frames, last - first + 1)).round().astype(int))
    kp = None
    if keypoints is not None:
        from backend.perception.keypoints import Keypoints

        kp = Keypoints.load(keypoints)
    wanted = {start + stride * int(i): int(i) for i in picks}
    tiles = []
    faces = model.faces.cpu().numpy()
    src = FrameSource(video)
    for index, img in src.frames(FrameRange(min(wanted), max(wanted) + 1, 1)):
        if index not in wanted:
            continue
        i = wanted[index]
        with torch.no_grad():
            shape = torch.as_tensor(motion.betas, dtype=torch.float32)[None] if motion.betas.size else None
            v = model(torch.as_tensor(motion.rotvec[i:i + 1], dtype=torch.float32),
                      torch.as_tensor(motion.transl[i:i + 1], dtype=torch.float32), shape=shape).vertices[0].numpy()
        cam = v @ motion.camera.R[i].T + motion.camera.t[i]
        tile = draw_mesh(img, cam, faces, motion.camera.K[i])
        box = None
        if crop:
            Ki = motion.camera.K[i]
            uv = cam[:, :2] / np.maximum(cam[:, 2:], 1e-3) * [Ki[0, 0], Ki[1, 1]] + Ki[:2, 2]
            box = np.concatenate([uv.min(0), uv.max(0)])
        if kp is not None:
            k = int(np.nonzero(kp.frame_indices == index)[0][0]) if (kp.frame_indices == index).any() else -1
            if k >= 0 and kp.found[k]:
                for x, y, c in kp.body[k]:
                    if c > 0.5:
                        cv2.circle(tile, (int(x), int(y)), 4, (0, 255, 0), -1)
        if box is not None:
            h, w = tile.shape[:2]
            c = (box[:2] + box[2:]) / 2
            half = max(box[2] - box[0], box[3] - box[1]) * 0.7 + 20
            half_w, half_h = half * 4 / 3, half  # 4:3 tiles
            x0, y0 = int(np.clip(c[0] - half_w, 0, w - 2)), int(np.clip(c[1] - half_h, 0, h - 2))
            x1, y1 = int(np.clip(c[0] + half_w, x0 + 2, w)), int(np.clip(c[1] + half_h, y0 + 2, h))
            tile = cv2.resize(tile[y0:y1, x0:x1], (width, width * 3 // 4), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, f"frame {index}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
        s = width / tile.shape[1]
        tiles.append(cv2.resize(tile, None, fx=s, fy=s, interpolation=cv2.INTER_AREA))
    rows = []
    for r in range(0, len(tiles), columns):
        row = tiles[r:r + columns]
        row += [np.zeros_like(tiles[0])] * (columns - len(row))
        rows.append(np.hstack(row))
    sheet = np.vstack(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    if not cv2.imwrite(str(tmp), sheet):
        raise SystemExit(f"{out}: could not write the image (use .png or .jpg)")
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video")
    ap.add_argument("motion")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--columns", type=int, default=4)
    ap.add_argument("--width", type=int, default=480)
    ap.add_argument("--keypoints", default=None)
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--first", type=int, default=0, help="first motion frame")
    ap.add_argument("--last", type=int, default=None, help="last motion frame")
    ap.add_argument("--full-frame", action="store_true", help="do not crop tiles around the person")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    out = render_sheet(Path(a.video), Path(a.motion), Path(a.output), a.frames, a.columns, a.width,
                       Path(a.keypoints) if a.keypoints else None, Path(a.model_dir) if a.model_dir else None,
                       a.first, a.last, not a.full_frame)
    log.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
