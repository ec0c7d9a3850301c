"""Every person in each frame (not only the tracked one): MediaPipe Pose (bundled full model, static mode) on the
downscaled frame, repeated with each found person's silhouette painted over, up to ``max_people`` per frame. Used to build multi-view
references, where each view must offer all people for association. Cached per video like the detections.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from backend.perception.frames import FrameRange, FrameSource

log = logging.getLogger(__name__)
CANDIDATES_VERSION = 2


@dataclasses.dataclass(frozen=True)
class CandidateSettings:
    long_side: int = 960  # pixels of the downscaled frame
    max_people: int = 3
    min_visible: int = 6  # landmarks with visibility > 0.3 for a find to count
    hide_dilate: int = 9  # pixels (downscaled frame) the found person's silhouette is grown by before hiding it


def _hide(rgb: np.ndarray, mask: np.ndarray | None, pts: np.ndarray, s: CandidateSettings) -> np.ndarray:
    """The frame with a found person painted over: their segmentation silhouette (grown), or, without a mask, a
    thick skeleton of their visible landmarks, so that a person behind or beside them stays visible."""
    h, w = rgb.shape[:2]
    if mask is not None:
        hide = (mask > 0.3).astype(np.uint8)
    else:
        hide = np.zeros((h, w), np.uint8)
        for x, y, v in pts:
            if v > 0.3:
                cv2.circle(hide, (int(x), int(y)), max(6, h // 40), 1, -1)
    k = 2 * s.hide_dilate + 1
    hide = cv2.dilate(hide, np.ones((k, k), np.uint8)) > 0
    out = rgb.copy()
    out[hide] = rgb.reshape(-1, 3).mean(0).astype(np.uint8)
    return out


def detect_frame_people(pose, bgr: np.ndarray, s: CandidateSettings) -> np.ndarray:
    """(P, 33, 3) x, y full-frame pixels and visibility of up to ``s.max_people`` people in one BGR frame."""
    h, w = bgr.shape[:2]
    scale = min(1.0, s.long_side / max(h, w))
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else bgr
    rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
    found = []
    for _ in range(s.max_people):
        res = pose.process(rgb)
        if res.pose_landmarks is None:
            break
        pts = np.array([(lm.x * small.shape[1], lm.y * small.shape[0], lm.visibility)
                        for lm in res.pose_landmarks.landmark[:33]], np.float32)
        vis = pts[:, 2] > 0.3
        if vis.sum() < s.min_visible:
            break
        mask = getattr(res, "segmentation_mask", None)
        rgb = _hide(rgb, mask, pts, s)
        pts[:, :2] /= scale
        found.append(pts)
    return np.stack(found) if found else np.zeros((0, 33, 3), np.float32)


def _cache_file(path: Path, frame_range: FrameRange, s: CandidateSettings, cache_dir: Path) -> Path:
    st = path.stat()
    ident = {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
             "range": dataclasses.asdict(frame_range), "settings": dataclasses.asdict(s),
             "version": CANDIDATES_VERSION}
    key = hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]
    return Path(cache_dir) / f"people_{key}.npz"


def detect_people(path: str | Path, frame_range: FrameRange = FrameRange(), s: CandidateSettings = CandidateSettings(),
                  cache_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All people per frame: (frame indices (F,), landmarks (F, max_people, 33, 3) x, y px + visibility, 0 where
    fewer people were found). Re-uses ``cache_dir/people_<key>.npz``."""
    import mediapipe as mp

    path = Path(path)
    cache = _cache_file(path, frame_range, s, Path(cache_dir)) if cache_dir is not None else None
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as d:
            log.info("re-using people detections from %s", cache)
            return d["frame_indices"], d["people"]
    source = FrameSource(path)
    idx, out = [], []
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True) as pose:
        for index, bgr in source.frames(frame_range):
            people = detect_frame_people(pose, bgr, s)
            arr = np.zeros((s.max_people, 33, 3), np.float32)
            arr[:len(people)] = people
            idx.append(index)
            out.append(arr)
    frames = np.asarray(idx, np.int64)
    people = np.stack(out) if out else np.zeros((0, s.max_people, 33, 3), np.float32)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".part")
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, frame_indices=frames, people=people)
        tmp.replace(cache)
    return frames, people
