"""Per-frame detections of one person: :class:`Keypoints` (numpy arrays) and its npz IO.

Layouts follow MediaPipe: body = the 33 BlazePose landmarks, hands = 21 landmarks each (the person's own left and
right), face = the 468 face-mesh landmarks. 2D arrays hold ``(x, y, confidence)`` with x, y in pixels of the
upright source frame; confidence in [0, 1] (0 = missing).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

KEYPOINTS_VERSION = 1
NUM_BODY, NUM_HAND, NUM_FACE = 33, 21, 468


@dataclasses.dataclass(frozen=True, eq=False)
class Keypoints:
    frame_indices: np.ndarray  # (F,) int source frame numbers
    fps: float  # of the source; frame i is at frame_indices[i] / fps seconds
    image_size: tuple[int, int]  # (width, height) pixels
    body: np.ndarray  # (F, 33, 3) x, y pixels, confidence
    body_world: np.ndarray  # (F, 33, 3) metres, MediaPipe world frame (hip-centred, x right, y down, z away)
    left_hand: np.ndarray  # (F, 21, 3)
    right_hand: np.ndarray  # (F, 21, 3)
    face: np.ndarray  # (F, 468, 3)
    bbox: np.ndarray  # (F, 4) x0, y0, x1, y1 pixels of the tracked person (0 when not found)
    found: np.ndarray  # (F,) bool: the person was detected
    masks: np.ndarray  # (F, h, w) uint8 person probability * 255 at a reduced resolution (h, w may be 0)
    source: str = ""
    settings: dict = dataclasses.field(default_factory=dict)
    # (F, 21) relative depth of each hand landmark in pixels (MediaPipe's z scaled like x; wrist-relative), or None
    left_hand_depth: np.ndarray | None = None
    right_hand_depth: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.frame_indices.shape[0])

    def subset(self, index: np.ndarray) -> "Keypoints":
        """A new Keypoints holding the frames ``index`` (integer array or boolean mask)."""
        arrays = {f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)
                  if isinstance(getattr(self, f.name), np.ndarray)}
        return dataclasses.replace(self, **arrays)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {"version": KEYPOINTS_VERSION, "fps": self.fps, "image_size": list(self.image_size),
                  "source": self.source, "settings": self.settings}
        arrays = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if isinstance(getattr(self, f.name), np.ndarray)}
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, header=np.asarray(json.dumps(header)), **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Keypoints":
        path = Path(path)
        with np.load(path, allow_pickle=False) as d:
            header = json.loads(str(d["header"]))
            if header.get("version") != KEYPOINTS_VERSION:
                raise ValueError(f"{path}: keypoints version {header.get('version')}, expected {KEYPOINTS_VERSION}; "
                                 "delete the file to re-detect.")
            arrays = {f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d.files}
        return cls(fps=float(header["fps"]), image_size=tuple(header["image_size"]), source=header["source"],
                   settings=header["settings"], **arrays)


def empty_keypoints(num: int, fps: float, image_size: tuple[int, int], mask_size: tuple[int, int]) -> dict:
    """Zero-filled arrays for ``num`` frames (a dict of the Keypoints array fields); mask_size = (w, h)."""
    return {
        "frame_indices": np.zeros(num, np.int64),
        "body": np.zeros((num, NUM_BODY, 3), np.float32),
        "body_world": np.zeros((num, NUM_BODY, 3), np.float32),
        "left_hand": np.zeros((num, NUM_HAND, 3), np.float32),
        "right_hand": np.zeros((num, NUM_HAND, 3), np.float32),
        "face": np.zeros((num, NUM_FACE, 3), np.float32),
        "bbox": np.zeros((num, 4), np.float32),
        "found": np.zeros(num, bool),
        "masks": np.zeros((num, mask_size[1], mask_size[0]), np.uint8),
        "left_hand_depth": np.zeros((num, NUM_HAND), np.float32),
        "right_hand_depth": np.zeros((num, NUM_HAND), np.float32),
    }
