"""Frame sources: a video file (any container OpenCV reads) or a folder of images, with a frame range and stride.

Frames are returned as ``(index, image)`` with ``image`` an (H, W, 3) uint8 BGR array, already rotated upright
when the container carries rotation metadata.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class FrameSourceError(ValueError):
    """The input cannot be read as video or image folder."""


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    path: str
    width: int  # pixels, after rotation
    height: int
    fps: float
    num_frames: int  # frames in the source (before range/stride)
    rotation: int  # degrees clockwise applied to make frames upright (0, 90, 180, 270)
    is_video: bool


@dataclasses.dataclass(frozen=True)
class FrameRange:
    start: int = 0
    end: int | None = None  # exclusive; None = to the end
    stride: int = 1

    def indices(self, num_frames: int) -> list[int]:
        if self.stride < 1:
            raise FrameSourceError(f"stride must be >= 1, got {self.stride}")
        end = num_frames if self.end is None else min(self.end, num_frames)
        return list(range(max(0, self.start), end, self.stride))


def _rotate(image: np.ndarray, degrees: int) -> np.ndarray:
    if degrees == 90:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if degrees == 180:
        return cv2.rotate(image, cv2.ROTATE_180)
    if degrees == 270:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


class FrameSource:
    """Reads frames of a video file or an image folder. Use :meth:`frames` to iterate a :class:`FrameRange`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            self._images = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._images:
                raise FrameSourceError(f"{self.path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                                       "pass a video file or a folder of frames.")
            first = cv2.imread(str(self._images[0]))
            if first is None:
                raise FrameSourceError(f"{self._images[0]}: not a readable image.")
            h, w = first.shape[:2]
            self.info = SourceInfo(str(self.path), w, h, 30.0, len(self._images), 0, False)
            return
        if not self.path.is_file():
            raise FrameSourceError(f"{self.path}: no such video file or image folder.")
        self._images = []
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise FrameSourceError(f"{self.path}: OpenCV cannot open it as a video; convert it to .mp4 (H.264) "
                                   "or extract the frames into a folder of images.")
        # Handle rotation ourselves so the reported size matches the frames we return.
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
        cap.release()
        if w <= 0 or h <= 0:
            raise FrameSourceError(f"{self.path}: the video reports no frame size; it may be corrupt.")
        if rotation in (90, 270):
            w, h = h, w
        self.info = SourceInfo(str(self.path), w, h, fps, max(n, 0), rotation, True)

    def frames(self, frame_range: FrameRange = FrameRange()) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (source frame index, BGR uint8 (H, W, 3)) for the frames of the range."""
        wanted = frame_range.indices(self.info.num_frames)
        if not wanted:
            return
        if not self.info.is_video:
            for i in wanted:
                img = cv2.imread(str(self._images[i]))
                if img is None:
                    raise FrameSourceError(f"{self._images[i]}: not a readable image.")
                yield i, img
            return
        cap = cv2.VideoCapture(str(self.path))
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        try:
            pos = 0
            if wanted[0] > 0:
                cap.set(cv2.CAP_PROP_POS_FRAMES, wanted[0])
                pos = int(cap.get(cv2.CAP_PROP_POS_FRAMES))
            wanted_set = set(wanted)
            last = wanted[-1]
            while pos <= last:
                if pos in wanted_set:
                    ok, img = cap.read()
                    if not ok:
                        break
                    yield pos, _rotate(img, self.info.rotation)
                else:
                    if not cap.grab():
                        break
                pos += 1
        finally:
            cap.release()
