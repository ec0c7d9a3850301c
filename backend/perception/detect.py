"""MediaPipe Holistic on a person-centred crop, with acquisition of the main person and per-video caching.

Only the models bundled in the mediapipe 0.10.21 wheel are used (``model_complexity=1``: the "full" pose model;
complexities 0 and 2 would download a model at run time and are refused here).

Tracking: the main person is acquired on a downscaled full frame (largest and most central of up to two
candidates, and nearest to where the person was last seen), then followed with Holistic in video mode on a square
crop around the previous frame's landmarks, cut from the full-resolution frame; hands and face are therefore
detected at full resolution while the network input stays small.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from backend.perception.frames import FrameRange, FrameSource, FrameSourceError
from backend.runtime import Cancelled
from backend.perception.keypoints import Keypoints, empty_keypoints

log = logging.getLogger(__name__)
DETECTOR_VERSION = 3


@dataclasses.dataclass(frozen=True)
class DetectSettings:
    acquire_long_side: int = 960  # pixels of the downscaled full frame used to (re)acquire the person
    crop_size: int = 448  # pixels of the square person crop given to Holistic
    crop_margin: float = 1.4  # crop side = margin * longest side of the person's box
    segmentation: bool = True
    mask_width: int = 256  # width of the stored person masks, pixels
    refine_face: bool = False  # 478 landmarks with irises (only the first 468 are stored)
    max_lost: int = 45  # frames searched around the last position before re-acquiring on the whole frame
    mode: str = "holistic"  # "holistic" (whole body), "hands" or "face" (close-ups without a visible body)


class DetectionCancelled(Cancelled):
    """Detection stopped at the owner's request (a :class:`backend.runtime.Cancelled`)."""


class NoPersonError(ValueError):
    """Too few frames show a person to estimate anything."""


def person_fraction_error(path, found: int, total: int, min_fraction: float, seen: int | None = None
                          ) -> NoPersonError:
    """The error for a video where a person is found in ``found`` of ``total`` frames (below ``min_fraction``);
    ``seen``: frames looked at so far when detection stops early."""
    if seen is not None and seen < total:
        return NoPersonError(f"{path}: a person was detected in only {found} of the first {seen} frames, so fewer "
                             f"than the {100 * min_fraction:.0f} % of the {total} selected frames the estimate needs "
                             "can show one; choose a frame range where the person is in view")
    if found == 0:
        return NoPersonError(f"{path}: no person was detected in the selected frames; use a video (or a frame range) "
                             "where a person's whole body is in view")
    return NoPersonError(f"{path}: a person was detected in only {found} of {total} frames ({100 * found / total:.0f} "
                         f"%), fewer than the {100 * min_fraction:.0f} % the estimate needs; choose a frame range where "
                         "the person is in view")


def _landmarks(lms, n: int) -> np.ndarray:
    """MediaPipe landmark list -> (n, 4) x, y, z, visibility (normalized image coordinates)."""
    out = np.zeros((n, 4), np.float32)
    for i, lm in enumerate(lms.landmark[:n]):
        out[i] = (lm.x, lm.y, lm.z, lm.visibility)
    return out


def _box_of(points: np.ndarray) -> np.ndarray:
    return np.array([points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max()], np.float32)


class HolisticTracker:
    """Follows one person through consecutive frames. Call :meth:`process` on each frame in order."""

    def __init__(self, settings: DetectSettings = DetectSettings()):
        import mediapipe as mp

        self.settings = settings
        self._mp = mp.solutions.holistic
        self._acquirer = self._mp.Holistic(static_image_mode=True, model_complexity=1, enable_segmentation=False)
        self._tracker = None
        self.box: np.ndarray | None = None  # last box of the person, full-resolution pixels
        self.last_seen: np.ndarray | None = None
        self.lost = 0  # consecutive frames without the person
        self.last_angle = 0

    def close(self) -> None:
        self._acquirer.close()
        if self._tracker is not None:
            self._tracker.close()

    def _new_tracker(self):
        if self._tracker is not None:
            self._tracker.close()
        s = self.settings
        self._tracker = self._mp.Holistic(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                          enable_segmentation=s.segmentation, smooth_segmentation=True,
                                          refine_face_landmarks=s.refine_face)

    def _acquire(self, bgr: np.ndarray) -> np.ndarray | None:
        """Box (x0, y0, x1, y1) pixels of the main person in the frame, or None."""
        h, w = bgr.shape[:2]
        scale = min(1.0, self.settings.acquire_long_side / max(h, w))
        small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else bgr.copy()
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        candidates = []
        for _ in range(2):
            res = self._acquirer.process(rgb)
            if res.pose_landmarks is None:
                break
            pts = _landmarks(res.pose_landmarks, 33)
            vis = pts[:, 3] > 0.3
            if vis.sum() < 6:
                break
            box = _box_of(pts[vis, :2] * [small.shape[1], small.shape[0]]) / scale
            candidates.append(box)
            # Hide this person and look for another one.
            x0, y0, x1, y1 = (_expand(box, 1.2, w, h) * scale).astype(int)
            rgb = rgb.copy()
            rgb[y0:y1, x0:x1] = rgb.reshape(-1, 3).mean(0).astype(np.uint8)
        if not candidates:
            return None
        return max(candidates, key=lambda b: self._score(b, w, h))

    def _score(self, box: np.ndarray, w: int, h: int) -> float:
        bw, bh = box[2] - box[0], box[3] - box[1]
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        size = bh * max(bw, 1.0) / (w * h)
        off = np.linalg.norm((centre - [w / 2, h / 2]) / [w, h])
        score = np.sqrt(size) * (1.0 - off)
        if self.last_seen is not None:  # prefer whoever is where the person was last seen
            last_c = (self.last_seen[:2] + self.last_seen[2:]) / 2
            d = np.linalg.norm(centre - last_c) / max(self.last_seen[3] - self.last_seen[1], 1.0)
            score *= 1.0 / (1.0 + d)
        return float(score)

    def process(self, bgr: np.ndarray) -> dict | None:
        """Detect the tracked person in one upright BGR frame. Returns a dict of full-frame arrays or None:
        body (33, 4) px x, y, z-relative, visibility; world (33, 3) m; left_hand/right_hand (21, 4) px or None;
        face (468, 4) px or None; mask ((h, w) float crop mask, 2x3 affine crop->full) or None; box (4,) px."""
        h, w = bgr.shape[:2]
        if self.box is not None and self.lost == 0:
            out = self._run(bgr, self._tracker, self.settings.crop_margin, 0, w, h)
            if out is not None:
                return out
        if self.box is not None and self.lost < self.settings.max_lost:
            # Lost: search around the last box, also rotated (people upside down in flips are missed upright).
            margin = self.settings.crop_margin * (1.5 + 0.1 * self.lost)
            for angle in (self.last_angle,) + tuple(a for a in (0, 180, 90, 270) if a != self.last_angle):
                out = self._run(bgr, self._acquirer, margin, angle, w, h)
                if out is not None:
                    self.last_angle = angle
                    self.lost = 1 if angle else 0  # stay in search mode while the person is rotated
                    if angle == 0:
                        self._new_tracker()
                    return out
            self.lost += 1
            return None
        box = self._acquire(bgr)
        if box is None:
            return None
        self.box = box
        self.lost = 0
        self.last_angle = 0
        self._new_tracker()
        out = self._run(bgr, self._tracker, self.settings.crop_margin, 0, w, h)
        if out is None:
            self.lost = 1
        return out

    def _run(self, bgr: np.ndarray, model, margin: float, angle: int, w: int, h: int) -> dict | None:
        """Run ``model`` on a square crop around the current box, rotated by ``angle`` degrees (counter-clockwise);
        landmarks are mapped back to full-frame pixels."""
        s = self.settings
        x0, y0, x1, y1 = self.box
        side = max(max(x1 - x0, y1 - y0) * margin, 64.0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        k = s.crop_size / side
        fwd = cv2.getRotationMatrix2D((float(cx), float(cy)), float(angle), float(k))
        fwd[:, 2] += np.array([s.crop_size / 2 - cx, s.crop_size / 2 - cy])
        crop = cv2.warpAffine(bgr, fwd, (s.crop_size, s.crop_size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        res = model.process(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
        if res.pose_landmarks is None:
            return None
        inv = cv2.invertAffineTransform(fwd)  # crop px -> full px

        def to_full(lms, n):
            pts = _landmarks(lms, n)
            xy = pts[:, :2] * s.crop_size
            pts[:, :2] = xy @ inv[:, :2].T + inv[:, 2]
            pts[:, 2] *= side  # relative depth, in full-frame pixels like x
            return pts

        body = to_full(res.pose_landmarks, 33)
        if angle != 0 and body[:, 3].mean() < 0.5:
            return None  # rotated searches accept only confident finds
        world = np.zeros((33, 3), np.float32)
        if res.pose_world_landmarks:
            world = _landmarks(res.pose_world_landmarks, 33)[:, :3]
            rot = inv[:, :2] / np.linalg.norm(inv[:, 0])
            world[:, :2] = world[:, :2] @ rot.T
        hands = [to_full(res.left_hand_landmarks, 21) if res.left_hand_landmarks else None,
                 to_full(res.right_hand_landmarks, 21) if res.right_hand_landmarks else None]
        # Holistic names hands after the person's sides; check against the pose wrists (15 left, 16 right).
        if (hands[0] is None) != (hands[1] is None):
            hand = hands[0] if hands[0] is not None else hands[1]
            d_left = np.linalg.norm(hand[0, :2] - body[15, :2])
            d_right = np.linalg.norm(hand[0, :2] - body[16, :2])
            hands = [hand, None] if d_left <= d_right else [None, hand]
        face = to_full(res.face_landmarks, 468) if res.face_landmarks else None
        seg = getattr(res, "segmentation_mask", None)
        mask = (seg, inv.astype(np.float32)) if seg is not None else None
        # The next crop follows every landmark the network placed (also occluded ones), clipped to the frame.
        pts = [body[:, :2]] + [p[:, :2] for p in hands if p is not None]
        self.box = _clip_box(_box_of(np.concatenate(pts)), w, h)
        self.last_seen = self.box
        return {"body": body, "world": world, "left_hand": hands[0], "right_hand": hands[1], "face": face,
                "mask": mask, "box": self.box.copy()}


class CloseUpDetector:
    """Hands (MediaPipe Hands, up to two) or one face (Face Mesh) on the downscaled frame, for close-up videos
    where no body is visible. Returns the same dict as :meth:`HolisticTracker.process` (body all zero)."""

    def __init__(self, settings: DetectSettings):
        import mediapipe as mp

        self.settings = settings
        if settings.mode == "hands":
            self._model = mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=2, model_complexity=1)
        elif settings.mode == "face":
            self._model = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                                          refine_landmarks=settings.refine_face)
        else:
            raise ValueError(f"unknown detection mode {settings.mode!r}; use holistic, hands or face")

    def close(self) -> None:
        self._model.close()

    def process(self, bgr: np.ndarray) -> dict | None:
        h, w = bgr.shape[:2]
        scale = min(1.0, self.settings.acquire_long_side / max(h, w))
        small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else bgr
        res = self._model.process(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
        out = {"body": np.zeros((33, 4), np.float32), "world": np.zeros((33, 3), np.float32), "left_hand": None,
               "right_hand": None, "face": None, "mask": None}

        def px(lms, n):
            pts = _landmarks(lms, n)
            pts[:, 0] *= w
            pts[:, 1] *= h
            pts[:, 2] *= w  # relative depth, pixels
            return pts

        if self.settings.mode == "hands":
            for lms, hd in zip(res.multi_hand_landmarks or [], res.multi_handedness or []):
                # MediaPipe Hands labels assume a mirrored (selfie) image: its "Left" is the person's right hand.
                side = "right_hand" if hd.classification[0].label == "Left" else "left_hand"
                if out[side] is None:
                    out[side] = px(lms, 21)
            pts = [out[k] for k in ("left_hand", "right_hand") if out[k] is not None]
        else:
            faces = res.multi_face_landmarks or []
            if faces:
                out["face"] = px(faces[0], 468)
            pts = [out["face"]] if faces else []
        if not pts:
            return None
        out["box"] = _clip_box(_box_of(np.concatenate(pts)[:, :2]), w, h)
        return out


def _expand(box: np.ndarray, factor: float, w: int, h: int) -> np.ndarray:
    c = (box[:2] + box[2:]) / 2
    half = (box[2:] - box[:2]) / 2 * factor
    return _clip_box(np.concatenate([c - half, c + half]), w, h)


def _clip_box(box: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.clip(box, [0, 0, 0, 0], [w - 1, h - 1, w - 1, h - 1]).astype(np.float32)


def cache_key(path: Path, frame_range: FrameRange, settings: DetectSettings) -> str:
    """Hash of the file identity (absolute path, size, mtime) and every setting that changes the detections."""
    st = path.stat()
    ident = {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
             "range": dataclasses.asdict(frame_range), "settings": dataclasses.asdict(settings),
             "version": DETECTOR_VERSION}
    if path.is_dir():
        ident["listing"] = sorted((p.name, p.stat().st_mtime_ns) for p in path.iterdir())
    return hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]


def detect_keypoints(path: str | Path, frame_range: FrameRange = FrameRange(),
                     settings: DetectSettings = DetectSettings(), cache_dir: str | Path | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     cancelled: Callable[[], bool] | None = None, min_found: float = 0.0,
                     frame_hook: Callable[[np.ndarray, dict, int], None] | None = None) -> Keypoints:
    """Detect the main person in every frame of the range. Re-uses ``cache_dir/<key>.npz`` when present.

    ``min_found``: stop with :class:`NoPersonError` as soon as fewer than this fraction of the frames can still show
    the person (a video without anyone fails after (1 - min_found) of its frames, not at the end).
    ``frame_hook(bgr, arrays, n)`` sees every decoded frame right after its detections were stored in ``arrays``
    (the :func:`~backend.perception.keypoints.empty_keypoints` dict, row ``n``); not called on a cache hit."""
    path = Path(path)
    source = FrameSource(path)
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"keypoints_{cache_key(path, frame_range, settings)}.npz"
        if cache_file.is_file():
            try:
                kp = Keypoints.load(cache_file)
                log.info("re-using detections from %s", cache_file)
                if progress:
                    progress(kp.num_frames, kp.num_frames)
                return kp
            except Exception as exc:  # a damaged cache file is simply recomputed
                log.warning("ignoring unreadable cache %s (%s)", cache_file, exc)
    info = source.info
    indices = frame_range.indices(info.num_frames)
    if not indices:
        raise ValueError(f"{path}: the frame range {frame_range} selects no frames (the source has "
                         f"{info.num_frames}).")
    mw = settings.mask_width if settings.segmentation else 0
    mh = int(round(info.height * mw / info.width)) if mw else 0
    arr = empty_keypoints(len(indices), info.fps, (info.width, info.height), (mw, mh))
    tracker = HolisticTracker(settings) if settings.mode == "holistic" else CloseUpDetector(settings)
    n, found = -1, 0
    try:
        for n, (index, bgr) in enumerate(source.frames(frame_range)):
            if cancelled is not None and cancelled():
                raise DetectionCancelled("detection cancelled")
            arr["frame_indices"][n] = index
            det = tracker.process(bgr)
            if det is not None:
                store_detection(arr, n, det, mw / info.width if mw else 0.0)
                found += 1
            if frame_hook is not None:
                frame_hook(bgr, arr, n)
            if found + len(indices) - (n + 1) < min_found * len(indices):
                raise person_fraction_error(path, found, len(indices), min_found, seen=n + 1)
            if progress:
                progress(n + 1, len(indices))
    finally:
        tracker.close()
    count = n + 1
    if count == 0:
        raise FrameSourceError(f"{path}: could not decode any frame of the selected range (the file reports "
                               f"{info.num_frames} frames); it is truncated or damaged, or its codec is not supported. "
                               "Re-encode it (e.g. ffmpeg -i in.mov -c:v libx264 out.mp4) or extract the frames "
                               "into a folder of images.")
    if count < len(indices):  # the container reported more frames than it holds
        arr = {k: v[:count] for k, v in arr.items()}
    kp = Keypoints(fps=info.fps, image_size=(info.width, info.height), source=str(path),
                   settings={"detect": dataclasses.asdict(settings), "range": dataclasses.asdict(frame_range)},
                   **arr)
    log.info("person found in %d of %d frames", int(kp.found.sum()), kp.num_frames)
    if cache_file is not None:
        kp.save(cache_file)
    return kp


def store_detection(arr: dict, n: int, det: dict, mask_scale: float) -> None:
    """Write one frame's detection ``det`` (a HolisticTracker result) into row ``n`` of the Keypoints arrays
    ``arr``; ``mask_scale``: mask pixels per frame pixel (0: no masks kept)."""
    arr["found"][n] = True
    arr["body"][n, :, :2] = det["body"][:, :2]  # all zero (confidence 0) in the close-up modes
    arr["body"][n, :, 2] = np.clip(det["body"][:, 3], 0, 1)
    arr["body_world"][n] = det["world"]
    arr["bbox"][n] = det["box"]
    for key in ("left_hand", "right_hand", "face"):
        if det[key] is not None:
            arr[key][n, :, :2] = det[key][:, :2]
            arr[key][n, :, 2] = 1.0
            if key != "face":
                arr[f"{key}_depth"][n] = det[key][:, 2] - det[key][0, 2]
    if det["mask"] is not None and mask_scale > 0:
        m, inv = det["mask"]
        mh, mw = arr["masks"].shape[1:]
        a = inv * mask_scale  # crop px -> mask px
        arr["masks"][n] = (cv2.warpAffine(m, a.astype(np.float32), (mw, mh), flags=cv2.INTER_LINEAR) * 255).astype(
            np.uint8)
