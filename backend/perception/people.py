"""Finding people in one frame and telling them apart: candidate boxes and an appearance signature.

MediaPipe 0.10.21's pose solution finds one person per call, so people are found by "find and hide": the static
pose model runs on a downscaled frame, the person it found is painted over with the frame's mean colour, and it
runs again, up to ``max_people`` times. Only the models bundled in the wheel are used (nothing is downloaded).

The appearance signature of a person is a hue-saturation histogram of the torso (the quadrilateral between the
shoulders and hips) plus the thighs, compared with the Bhattacharyya distance (0 = same colours, 1 = disjoint).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

TORSO = (11, 12, 24, 23)  # MediaPipe: left shoulder, right shoulder, right hip, left hip (a quadrilateral)
THIGHS = ((23, 25), (24, 26))  # hip -> knee


@dataclasses.dataclass(frozen=True)
class PeopleSettings:
    """How people are found and followed (pixels are full-resolution pixels of the source frames)."""

    detect_long_side: int = 640  # downscaled frame the people finder runs on
    max_people: int = 6  # people looked for per finder pass
    tiles: bool = True  # also search overlapping square tiles (people too small for the whole-frame pass)
    min_height_px: float = 160.0  # people whose landmark box is smaller are ignored
    detect_every: int = 8  # frames between finder passes (also run when a person was lost)
    max_lost: int = 30  # frames a lost person is searched for around its last position before waiting for re-id
    same_person: float = 0.25  # two detections closer than this (fraction of height, median landmark) are one
    appearance_jump: float = 0.55  # a follow whose appearance differs more than this from the person's is refused
    reid_distance: float = 0.45  # a new find this close to a lost person's appearance takes its identity
    min_track_frames: int = 10  # tracks seen in fewer frames are dropped as spurious


@dataclasses.dataclass(frozen=True, eq=False)
class Candidate:
    """One person found in a frame: box (4,) x0, y0, x1, y1 pixels; body (33, 3) x, y pixels and visibility."""

    box: np.ndarray
    body: np.ndarray

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


def landmark_box(body: np.ndarray, min_vis: float = 0.3) -> np.ndarray:
    """(33, >=3) landmarks -> (4,) box of the visible ones (all of them when fewer than 4 are visible)."""
    vis = body[:, 2] > min_vis
    pts = body[vis, :2] if vis.sum() >= 4 else body[:, :2]
    return np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()], np.float32)


class PeopleFinder:
    """Static MediaPipe pose on a downscaled frame, repeated with each found person hidden."""

    def __init__(self, settings: PeopleSettings = PeopleSettings()):
        import mediapipe as mp

        self.settings = settings
        self._pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False)

    def close(self) -> None:
        self._pose.close()

    def find(self, bgr: np.ndarray, hide: list[np.ndarray] = ()) -> list[Candidate]:
        """People in one BGR frame, boxes in full-resolution pixels; ``hide``: boxes painted over first (people
        already followed). The whole frame is searched first, then overlapping square tiles (small people)."""
        work = bgr.copy()
        fill = work.reshape(-1, 3).mean(0).astype(np.uint8)
        for box in hide:
            _paint(work, box, fill, 1.05)
        found: list[Candidate] = []
        for x0, y0, side_w, side_h in _regions(work.shape[1], work.shape[0], self.settings.tiles):
            if len(found) >= self.settings.max_people:
                break
            self._find_in(work, (x0, y0, side_w, side_h), fill, found)
        return found

    def _find_in(self, work: np.ndarray, region: tuple[int, int, int, int], fill: np.ndarray,
                 found: list[Candidate]) -> None:
        x0, y0, rw, rh = region
        s = min(1.0, self.settings.detect_long_side / max(rw, rh))
        while len(found) < self.settings.max_people:
            crop = work[y0:y0 + rh, x0:x0 + rw]
            small = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else crop
            res = self._pose.process(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
            if res.pose_landmarks is None:
                return
            body = np.array([(x0 + lm.x * small.shape[1] / s, y0 + lm.y * small.shape[0] / s, lm.visibility)
                             for lm in res.pose_landmarks.landmark], np.float32)
            if (body[:, 2] > 0.3).sum() < 6:
                return
            box = landmark_box(body)
            found.append(Candidate(box=box, body=body))
            _paint(work, box, fill, 1.15)


def _regions(w: int, h: int, tiles: bool) -> list[tuple[int, int, int, int]]:
    """(x0, y0, width, height) pixels: the whole frame, then squares of the short side overlapping by half."""
    out = [(0, 0, w, h)]
    if tiles:
        side = min(w, h)
        steps_x = max(1, int(np.ceil(2 * w / side)) - 1)
        steps_y = max(1, int(np.ceil(2 * h / side)) - 1)
        for j in range(steps_y):
            for i in range(steps_x):
                x = int(round(i * (w - side) / max(1, steps_x - 1)))
                y = int(round(j * (h - side) / max(1, steps_y - 1)))
                out.append((x, y, side, side))
    return out


def _paint(rgb: np.ndarray, box: np.ndarray, colour: np.ndarray, grow: float) -> None:
    c = (box[:2] + box[2:]) / 2
    half = (box[2:] - box[:2]) / 2 * grow
    x0, y0 = np.maximum(0, (c - half)).astype(int)
    x1, y1 = np.minimum([rgb.shape[1], rgb.shape[0]], (c + half)).astype(int)
    rgb[y0:y1, x0:x1] = colour


def appearance(bgr: np.ndarray, body: np.ndarray, bins: tuple[int, int] = (16, 8)) -> np.ndarray | None:
    """Normalised hue-saturation histogram (bins[0] * bins[1],) float32 of the torso and thighs of the person whose
    landmarks (33, >=2) pixels are given, or None when the region is too small or off the frame."""
    h, w = bgr.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    quad = body[list(TORSO), :2].astype(np.int32)
    cv2.fillConvexPoly(mask, quad, 255)
    width = max(4, int(0.25 * np.linalg.norm(body[11, :2] - body[12, :2])))
    for a, b in THIGHS:
        cv2.line(mask, tuple(int(v) for v in body[a, :2]), tuple(int(v) for v in body[b, :2]), 255, width)
    if cv2.countNonZero(mask) < 50:
        return None
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], mask, list(bins), [0, 180, 0, 256]).ravel()
    total = hist.sum()
    return (hist / total).astype(np.float32) if total > 0 else None


def appearance_distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Bhattacharyya distance of two signatures in [0, 1]; 0.5 (undecided) when either is missing."""
    if a is None or b is None:
        return 0.5
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


def landmark_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Median distance of the torso and head landmarks of two detections (33, >=2), in units of a's height."""
    idx = [0, 11, 12, 23, 24, 13, 14, 25, 26]
    d = np.linalg.norm(a[idx, :2] - b[idx, :2], axis=1)
    return float(np.median(d) / max(landmark_box(a)[3] - landmark_box(a)[1], 1.0))


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = np.maximum(a[:2], b[:2])
    x1, y1 = np.minimum(a[2:], b[2:])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
