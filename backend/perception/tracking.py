"""Every person in a video, each followed with its identity: per-person :class:`Keypoints`.

Recipe per frame:
1. follow: each known person is detected with MediaPipe Holistic on a crop around where it was (video mode while
   followed, static mode while lost, around its predicted box);
2. check identity: a follow whose torso colours differ from the person's signature is refused (the crop slid onto
   someone else), and two people who landed on the same body keep only the better-matching one;
3. find: every ``detect_every`` frames, and whenever someone is lost, the people finder looks for people not yet
   followed (followed people painted over); a find that looks like a lost person (appearance) takes its identity
   back (re-identification after an occlusion or after leaving the frame), else it starts a new person;
4. record: landmarks, hands, face and mask are stored per person in that frame.

People smaller than ``min_height_px`` are ignored (counted in ``TrackingResult.ignored_small``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from backend.perception.detect import DetectionCancelled, DetectSettings, HolisticTracker, store_detection, cache_key
from backend.perception.frames import FrameRange, FrameSource
from backend.perception.keypoints import Keypoints, empty_keypoints
from backend.perception.people import (PeopleFinder, PeopleSettings, appearance, appearance_distance, box_iou,
                                       landmark_box, landmark_distance)

log = logging.getLogger(__name__)
TRACKING_VERSION = 1


@dataclasses.dataclass(frozen=True, eq=False)
class TrackingResult:
    """People of one video, most visible first. ``people[i]`` holds every frame of the range (``found`` marks the
    frames the person was seen); ``info[i]``: track_id, first_frame, last_frame (source frame numbers),
    frames_visible, visible_fraction (of all frames), visible_fraction_in_range (of its first..last frames),
    median_height_px."""

    people: list[Keypoints]
    info: list[dict]
    min_height_px: float
    ignored_small: int  # finds ignored because smaller than min_height_px

    def summary(self) -> dict:
        return {"min_height_px": self.min_height_px, "ignored_small_detections": self.ignored_small,
                "people": self.info}


class _Follower(HolisticTracker):
    """Holistic on a crop around a given box (one per person: each keeps its own video-mode state)."""

    def follow(self, bgr: np.ndarray, box: np.ndarray, lost: bool) -> dict | None:
        h, w = bgr.shape[:2]
        self.box = np.asarray(box, np.float32)
        if lost:
            return self._run(bgr, self._acquirer, self.settings.crop_margin * 1.3, 0, w, h)
        if self._tracker is None:
            self._new_tracker()
        return self._run(bgr, self._tracker, self.settings.crop_margin, 0, w, h)


@dataclasses.dataclass(eq=False)
class _Person:
    track_id: int
    follower: _Follower
    box: np.ndarray
    signature: np.ndarray | None
    arrays: dict
    velocity: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(4, np.float32))
    lost: int = 0
    heights: list = dataclasses.field(default_factory=list)


class PeopleTracker:
    """Call :meth:`process` on each frame in order, then :meth:`result`."""

    def __init__(self, num_frames: int, fps: float, image_size: tuple[int, int], detect: DetectSettings,
                 people: PeopleSettings):
        self.detect, self.settings = detect, people
        self.F, self.fps, self.image_size = num_frames, fps, image_size
        w, h = image_size
        self.mask_w = detect.mask_width if detect.segmentation else 0
        self.mask_h = int(round(h * self.mask_w / w)) if self.mask_w else 0
        self.finder = PeopleFinder(people)
        self.people: list[_Person] = []
        self.ignored_small = 0
        self.frame_indices = np.zeros(num_frames, np.int64)

    def close(self) -> None:
        self.finder.close()
        for p in self.people:
            p.follower.close()

    def process(self, n: int, index: int, bgr: np.ndarray) -> None:
        self.frame_indices[n] = index
        dets = self._follow(bgr)
        self._drop_duplicates(dets)
        if n % self.settings.detect_every == 0 or any(p.lost for p in self._searchable()) or not self.people:
            self._find(bgr, dets)
        self._record(n, bgr, dets)

    def _searchable(self) -> list[_Person]:
        return [p for p in self.people if p.lost < self.settings.max_lost]

    def _follow(self, bgr: np.ndarray) -> dict[int, tuple[dict, np.ndarray | None]]:
        """Step 1-2: track_id -> (detection, signature) for the people found near where they were."""
        dets = {}
        for p in self._searchable():
            det = p.follower.follow(bgr, p.box + p.velocity, lost=p.lost > 0)
            if det is None:
                continue
            sig = appearance(bgr, _xyv(det))
            if appearance_distance(sig, p.signature) > self.settings.appearance_jump:
                log.debug("person %d: refused a follow that looks like someone else", p.track_id)
                continue
            dets[p.track_id] = (det, sig)
        return dets

    def _drop_duplicates(self, dets: dict) -> None:
        by_id = {p.track_id: p for p in self.people}
        ids = sorted(dets)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                if a not in dets or b not in dets:
                    continue
                if landmark_distance(_xyv(dets[a][0]), _xyv(dets[b][0])) > self.settings.same_person:
                    continue
                da = appearance_distance(dets[a][1], by_id[a].signature)
                db = appearance_distance(dets[b][1], by_id[b].signature)
                del dets[b if da <= db else a]

    def _find(self, bgr: np.ndarray, dets: dict) -> None:
        """Step 3: people not followed yet: re-identified lost people or new ones."""
        s = self.settings
        taken = [d[0]["box"] for d in dets.values()]
        for cand in self.finder.find(bgr, hide=taken):
            if cand.height < s.min_height_px:
                self.ignored_small += 1
                continue
            if any(box_iou(cand.box, b) > 0.3 for b in taken) or any(
                    landmark_distance(cand.body, _xyv(d[0])) < s.same_person for d in dets.values()):
                continue
            sig = appearance(bgr, cand.body)
            lost = [p for p in self.people if p.track_id not in dets and p.lost > 0]
            scores = [appearance_distance(sig, p.signature) for p in lost]
            person = lost[int(np.argmin(scores))] if lost and min(scores) < s.reid_distance else None
            if person is None:
                person = self._new_person(cand.box, sig)
            person.follower._new_tracker()
            det = person.follower.follow(bgr, cand.box, lost=False)
            if det is None:
                if person.lost == 0 and not person.heights:  # a new person that does not hold up: forget it
                    person.follower.close()
                    self.people.remove(person)
                continue
            if person.heights:
                log.debug("person %d re-identified (appearance distance %.2f)", person.track_id, min(scores))
            dets[person.track_id] = (det, appearance(bgr, _xyv(det)) if sig is None else sig)
            taken.append(det["box"])

    def _new_person(self, box: np.ndarray, sig: np.ndarray | None) -> _Person:
        arrays = empty_keypoints(self.F, self.fps, self.image_size, (self.mask_w, self.mask_h))
        person = _Person(track_id=len(self.people), follower=_Follower(self.detect), box=box.copy(),
                         signature=sig, arrays=arrays)
        self.people.append(person)
        return person

    def _record(self, n: int, bgr: np.ndarray, dets: dict) -> None:
        """Step 4, and the motion / appearance updates."""
        w = self.image_size[0]
        boxes = {tid: d[0]["box"] for tid, d in dets.items()}
        for p in self.people:
            if p.track_id not in dets:
                p.lost += 1
                p.velocity *= 0.8
                continue
            det, sig = dets[p.track_id]
            store_detection(p.arrays, n, det, self.mask_w / w if self.mask_w else 0.0)
            box = landmark_box(_xyv(det))
            p.velocity = (0.5 * p.velocity + 0.5 * (box - p.box)) if p.lost == 0 else np.zeros(4, np.float32)
            p.box = box
            p.lost = 0
            p.heights.append(float(box[3] - box[1]))
            alone = all(box_iou(det["box"], b) < 0.1 for t, b in boxes.items() if t != p.track_id)
            if sig is not None and alone:  # learn colours only where nobody else is in the way
                p.signature = sig if p.signature is None else _blend(p.signature, sig, 0.1)

    def result(self, source: str, settings: dict) -> TrackingResult:
        people, info = [], []
        kept = [p for p in self.people if p.arrays["found"].sum() >= self.settings.min_track_frames]
        kept.sort(key=lambda p: -int(p.arrays["found"].sum()))
        for p in kept:
            arr = dict(p.arrays, frame_indices=self.frame_indices.copy())
            kp = Keypoints(fps=self.fps, image_size=self.image_size, source=source,
                           settings=dict(settings, track_id=p.track_id), **arr)
            found = np.nonzero(kp.found)[0]
            first, last = int(found[0]), int(found[-1])
            people.append(kp)
            info.append({"track_id": p.track_id, "first_frame": int(kp.frame_indices[first]),
                         "last_frame": int(kp.frame_indices[last]), "frames_visible": int(len(found)),
                         "visible_fraction": round(len(found) / self.F, 4),
                         "visible_fraction_in_range": round(len(found) / (last - first + 1), 4),
                         "median_height_px": round(float(np.median(p.heights)), 1)})
        return TrackingResult(people, info, self.settings.min_height_px, self.ignored_small)


def _xyv(det: dict) -> np.ndarray:
    """A follower's detection -> (33, 3) x, y pixels, visibility."""
    return det["body"][:, [0, 1, 3]]


def _blend(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    m = (1 - k) * a + k * b
    return (m / max(float(m.sum()), 1e-9)).astype(np.float32)


def _cache_paths(cache_dir: Path, path: Path, frame_range: FrameRange, detect: DetectSettings,
                 people: PeopleSettings) -> tuple[Path, str]:
    key = cache_key(path, frame_range, detect)
    key = hashlib.sha1(json.dumps([key, dataclasses.asdict(people), TRACKING_VERSION]).encode()).hexdigest()[:20]
    return Path(cache_dir) / f"people_{key}.json", key


def _load_cached(index: Path) -> TrackingResult | None:
    try:
        summary = json.loads(index.read_text())
        people = [Keypoints.load(index.parent / name) for name in summary["files"]]
        return TrackingResult(people, summary["people"], summary["min_height_px"],
                              summary["ignored_small_detections"])
    except Exception as exc:  # a damaged cache is recomputed
        log.warning("ignoring unreadable cache %s (%s)", index, exc)
        return None


def _save_cached(index: Path, key: str, result: TrackingResult) -> None:
    index.parent.mkdir(parents=True, exist_ok=True)  # also when nobody was followed (no track file made it)
    files = []
    for i, kp in enumerate(result.people):
        name = f"people_{key}_{i:02d}.npz"
        kp.save(index.parent / name)
        files.append(name)
    tmp = index.with_name(index.name + ".part")
    tmp.write_text(json.dumps(dict(result.summary(), files=files)))
    tmp.replace(index)


def track_people(path: str | Path, frame_range: FrameRange = FrameRange(),
                 detect: DetectSettings = DetectSettings(), people: PeopleSettings = PeopleSettings(),
                 cache_dir: str | Path | None = None, progress: Callable[[int, int], None] | None = None,
                 cancelled: Callable[[], bool] | None = None) -> TrackingResult:
    """Find and follow every person in the frames of the range (re-uses ``cache_dir`` when it holds the result)."""
    path = Path(path)
    source = FrameSource(path)
    index = key = None
    if cache_dir is not None:
        index, key = _cache_paths(Path(cache_dir), path, frame_range, detect, people)
        if index.is_file() and (cached := _load_cached(index)) is not None:
            log.info("re-using people tracks from %s", index)
            return cached
    info = source.info
    indices = frame_range.indices(info.num_frames)
    if not indices:
        raise ValueError(f"{path}: the frame range {frame_range} selects no frames (the source has "
                         f"{info.num_frames}).")
    tracker = PeopleTracker(len(indices), info.fps, (info.width, info.height), detect, people)
    count = 0
    try:
        for n, (frame, bgr) in enumerate(source.frames(frame_range)):
            if cancelled is not None and cancelled():
                raise DetectionCancelled("detection cancelled")
            tracker.process(n, frame, bgr)
            count = n + 1
            if progress:
                progress(count, len(indices))
    finally:
        tracker.close()
    if count < len(indices):
        tracker.F = count
        tracker.frame_indices = tracker.frame_indices[:count]
        for p in tracker.people:
            p.arrays = {k: v[:count] for k, v in p.arrays.items()}
    settings = {"detect": dataclasses.asdict(detect), "people": dataclasses.asdict(people),
                "range": dataclasses.asdict(frame_range)}
    result = tracker.result(str(path), settings)
    log.info("%d people followed (%s); %d finds under %.0f px ignored", len(result.people),
             ", ".join(f"#{i['track_id']}: {i['frames_visible']} frames" for i in result.info),
             result.ignored_small, people.min_height_px)
    if index is not None:
        _save_cached(index, key, result)
    return result
