"""A moving-camera video with a known camera, made from a tripod video: every frame is re-imaged by a virtual
camera that pans, tilts and zooms about the real camera's centre (a homography per frame, so the truth is exact).

Used by the moving-camera tests and ``scripts/eval/eval_moving_camera.py``; ``python -m backend.demo.virtual_camera
SRC DST`` writes one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from backend.perception.camera_motion import CameraMotion
from backend.perception.frames import FrameRange, FrameSource


def virtual_path(num_frames: int, focal: float, image_size: tuple[int, int], pan_deg: float = 8.0,
                 tilt_deg: float = 3.0, roll_deg: float = 1.0, zoom: float = 1.25) -> CameraMotion:
    """A smooth pan/tilt/roll sweep and zoom-in, starting at the real camera (identity, ``focal``)."""
    s = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, num_frames))  # 0 -> 1, eased
    angles = np.stack([tilt_deg * np.sin(np.pi * s), pan_deg * s, roll_deg * s], 1)  # x (tilt), y (pan), z (roll)
    rotation = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    return CameraMotion(rotation, focal * (1.0 + (zoom - 1.0) * s), tuple(image_size), False,
                        np.zeros(num_frames, np.int64))


def warp_video(src: str | Path, dst: str | Path, frame_range: FrameRange, camera: CameraMotion) -> Path:
    """Write ``dst`` (mp4): frame i of the range re-imaged through ``camera`` (its homography i)."""
    source = FrameSource(src)
    w, h = source.info.width, source.info.height
    H = camera.homographies()
    dst = Path(dst)
    tmp = dst.with_name(dst.stem + ".part" + dst.suffix)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), source.info.fps, (w, h))
    try:
        for i, (_, bgr) in enumerate(source.frames(frame_range)):
            writer.write(cv2.warpPerspective(bgr, H[i], (w, h), flags=cv2.INTER_LINEAR))
    finally:
        writer.release()
    tmp.replace(dst)
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write a virtual pan/tilt/zoom version of a tripod video.")
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--end", type=int, default=None)
    ap.add_argument("--pan", type=float, default=8.0, help="degrees")
    ap.add_argument("--zoom", type=float, default=1.25)
    args = ap.parse_args(argv)
    info = FrameSource(args.src).info
    frames = FrameRange(args.start, args.end)
    n = len(frames.indices(info.num_frames))
    cam = virtual_path(n, 0.9 * max(info.width, info.height), (info.width, info.height), args.pan, zoom=args.zoom)
    print(warp_video(args.src, args.dst, frames, cam))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
