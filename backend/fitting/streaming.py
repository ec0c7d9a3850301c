"""Streamed estimate: the fit of windows of frames overlaps MediaPipe detection.

Detection (decode + MediaPipe + the camera tracker's frame hook) runs in a producer thread
(:class:`DetectionStream`); the calling thread fits windows of the frames detected so far as they arrive
(:func:`fit_streamed`). Each window starts where the previous one ended, minus ``overlap`` frames; those frames
start at the previous window's values (a warm start) and the shape and floor of the first window are held fixed.
The windows are then stitched: across each overlap the values cross-fade linearly from the earlier window to the
later one (rotations by normalised quaternion blend).

The fitter takes every frame detected while it was busy, so windows grow when the fit is slower than detection
and shrink when it is faster; the last window (the frames detected during the previous window's fit) is the part
that runs after detection. MediaPipe's graph and torch's kernels release the GIL, so the two threads can use two
cores (a fit running in the other thread slowed 60 frames of detection from 5.0 s to 6.0 s on the shared machine);
the fit runs on one torch thread (``fit_keypoints``). The windows cost more CPU in all than one whole-sequence fit
(each repeats the per-iteration overhead and its overlap), so the estimate streams only with a core to spare
(:func:`should_stream`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from backend.fitting.fit import FitCancelled, FitResult, FitSettings, WarmStart, fit_keypoints
from backend.perception.detect import DetectSettings, detect_keypoints
from backend.perception.frames import FrameRange, FrameSource
from backend.perception.keypoints import Keypoints
from backend.perception.postprocess import fix_left_right_swaps
from blender_addon.core.rotations import quat_to_rotvec, rotvec_to_quat

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class StreamSettings:
    min_window: int = 60  # frames of the first window (its shape and floor are kept)
    min_new: int = 20  # newly detected frames before another window is fitted (the last one: whatever is left)
    overlap: int = 20  # frames a window shares with the one before it (warm start, cross-fade)
    min_found: float = 0.3  # fraction of a window's frames that must show the person, else it waits for more
    max_window: int = 300  # frames at most in one window
    # Iterations of the last window (fitted after detection ended, so its time is the pipeline's tail) relative to
    # the others: its overlap frames start converged and its new frames are a few dozen.
    last_iters: float = 1.0
    # The overlap pays only with a core to spare: on a saturated CPU the windows' extra work (each window repeats
    # the per-iteration overhead and its overlap) makes it slower than fitting after detection (measured 0.69x at
    # a load of 10-13 on 2 cores). Stream when cores - 1-min load average >= this; 0: always.
    min_spare_cores: float = 1.0


class StreamFallback(Exception):
    """The streamed windows cannot be used (moving camera, too few detections in a window): fit the whole
    sequence instead."""


class DetectionStream:
    """:func:`detect_keypoints` in a producer thread; :meth:`wait` blocks until frames are ready.

    ``frame_hook`` (e.g. the camera tracker's) runs in the producer thread as in :func:`detect_keypoints`.
    ``cancelled`` is checked per frame; :meth:`stop` makes the producer stop at its next frame."""

    def __init__(self, path: Path, frame_range: FrameRange, settings: DetectSettings, cache_dir: Path | None,
                 progress: Callable[[int, int], None] | None, cancelled: Callable[[], bool] | None,
                 min_found: float, frame_hook: Callable | None) -> None:
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.arrays: dict | None = None  # detect_keypoints' arrays; rows below ``ready`` are final
        self.ready = 0
        self.done = False
        self.keypoints: Keypoints | None = None
        self.error: BaseException | None = None
        self.finished_at = 0.0  # time.perf_counter() when detection ended

        def hook(bgr, arrays, n):
            if frame_hook is not None:
                frame_hook(bgr, arrays, n)
            with self._cond:
                self.arrays, self.ready = arrays, n + 1
                self._cond.notify_all()

        def run():
            try:
                kp = detect_keypoints(path, frame_range, settings, cache_dir, progress=progress,
                                      cancelled=lambda: self._stop.is_set() or bool(cancelled and cancelled()),
                                      min_found=min_found, frame_hook=hook)
                with self._cond:
                    self.keypoints, self.ready = kp, kp.num_frames
            except BaseException as exc:  # handed to the consumer, re-raised there
                with self._cond:
                    self.error = exc
            finally:
                with self._cond:
                    self.finished_at = time.perf_counter()
                    self.done = True
                    self._cond.notify_all()

        self._thread = threading.Thread(target=run, name="smplpix-detect", daemon=True)

    def start(self) -> DetectionStream:
        self._thread.start()
        return self

    def wait(self, frames: int) -> tuple[int, bool]:
        """Block until ``frames`` frames are ready or detection ended; (ready, done). Raises detection's error."""
        with self._cond:
            self._cond.wait_for(lambda: self.done or self.ready >= frames)
            if self.error is not None:
                raise self.error
            return self.ready, self.done

    def failed(self) -> bool:
        return self.error is not None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def result(self) -> Keypoints:
        """The whole detections (blocks until detection ended)."""
        self.wait(1 << 62)
        assert self.keypoints is not None
        return self.keypoints


def prefix_keypoints(stream: DetectionStream, end: int, info) -> Keypoints:
    """Frames [0, end) detected so far, left/right swaps repaired (the repair looks back only, so a prefix is
    repaired as the whole sequence will be)."""
    arrays = {k: v[:end].copy() for k, v in stream.arrays.items()}
    kp = Keypoints(fps=info.fps, image_size=(info.width, info.height), source="", **arrays)
    return fix_left_right_swaps(kp)[0]


def fit_streamed(stream: DetectionStream, model, settings: FitSettings, info, ss: StreamSettings = StreamSettings(),
                 progress: Callable[[str, int, int], None] | None = None,
                 cancelled: Callable[[], bool] | None = None,
                 moving: Callable[[], bool] = lambda: False) -> FitResult:
    """Fit windows of the frames ``stream`` delivers until detection ends; the stitched :class:`FitResult`.
    Raises :class:`StreamFallback` when ``moving()`` turns true (a moving camera needs every frame's camera) or a
    window never gets enough detections."""
    windows: list[tuple[int, FitResult]] = []
    fitted = 0
    stop = lambda: bool(cancelled and cancelled()) or stream.failed()  # noqa: E731
    while True:
        first = not windows
        ready, done = stream.wait(ss.min_window if first else fitted + ss.min_new)
        if moving():
            raise StreamFallback("the camera moves")
        if done and ready <= fitted:
            break
        start = 0 if first else max(0, fitted - ss.overlap)
        end = min(ready, start + ss.max_window)
        kp = prefix_keypoints(stream, end, info).subset(np.arange(start, end))
        if kp.found.mean() < ss.min_found or kp.found.sum() < 4:
            if done or end < ready:
                raise StreamFallback(f"too few detections in frames {start}-{end}")
            stream.wait(ready + ss.min_new)  # wait for more frames, then take them all
            continue
        warm = None if first else _warm_start(windows[-1], start, windows[0][1], model)
        report = (lambda st, d, n, k=len(windows): progress(st, d, n, k)) if progress else None
        last = done and end >= ready and not first
        try:
            fit = fit_keypoints(kp, model, _scaled(settings, ss.last_iters) if last else settings, progress=report,
                                cancelled=stop, warm=warm)
        except FitCancelled:
            if stream.failed():
                stream.wait(0)  # detection's error (no person, damaged video, cancelled) is the one to report
            raise
        log.info("streamed window %d: frames %d-%d (%.1f s)", len(windows), start, end, fit.timings["fit_s"])
        windows.append((start, fit))
        fitted = end
        if done and fitted >= ready:
            break
    return stitch(windows, model)


def _scaled(s: FitSettings, factor: float) -> FitSettings:
    """``s`` with every stage's iterations scaled by ``factor``."""
    if factor == 1.0:
        return s
    return dataclasses.replace(s, **{k: max(1, round(getattr(s, k) * factor)) if getattr(s, k) > 0 else 0
                                     for k in ("iters_global", "iters_body", "iters_contact", "iters_relax")})


def _floor_h(fit: FitResult, up: np.ndarray) -> float:
    """The floor height a result was shifted by (its camera moved with the world): cam_t = R0 up h."""
    return float(up @ (fit.cam_R.T @ fit.cam_t))


def _up(model) -> np.ndarray:
    from backend.fitting.correspondences import model_axes

    return np.asarray(model_axes(model.rig_spec())[1], np.float64)


def _warm_start(prev: tuple[int, FitResult], start: int, first: FitResult, model) -> WarmStart:
    """The frames of the previous window from ``start`` on, unshifted, with the first window's shape and floor."""
    p0, fit = prev
    up = _up(model)
    n = slice(start - p0, None)
    raw = fit.transl + up * _floor_h(fit, up)
    return WarmStart(rotvec=fit.rotvec[n], transl=raw[n], shape=first.shape, floor_h=_floor_h(first, up))


def stitch(windows: list[tuple[int, FitResult]], model) -> FitResult:
    """One result from overlapping windows [(first frame, result)]: values cross-fade linearly over each overlap;
    contacts switch at its middle; floor and shape of the first window."""
    up = _up(model)
    start0, out = windows[0]
    floor = _floor_h(out, up)
    timings = dict(out.timings)
    rot = out.rotvec
    for start, fit in windows[1:]:
        ov = out.rotvec.shape[0] - start  # frames shared with the stitched result so far
        w = (np.arange(ov) + 1.0) / (ov + 1.0)  # weight of the later window
        rot = np.concatenate([_blend_rotvec(rot[:start], None, None), _blend_rotvec(rot[start:], fit.rotvec[:ov], w),
                              fit.rotvec[ov:]])
        lin = lambda a, b: np.concatenate([a[:start], (1 - w.reshape((-1,) + (1,) * (a.ndim - 1))) * a[start:]  # noqa: E731
                                           + w.reshape((-1,) + (1,) * (a.ndim - 1)) * b[:ov], b[ov:]])
        sw = lambda a, b: np.concatenate([a[:start + ov // 2], b[ov // 2:]])  # noqa: E731
        raw_a = out.transl + up * _floor_h(out, up)
        raw_b = fit.transl + up * _floor_h(fit, up)
        transl = lin(raw_a, raw_b) - up * floor
        out = dataclasses.replace(
            out, rotvec=rot, transl=transl, contact=sw(out.contact, fit.contact),
            confidence=lin(out.confidence, fit.confidence).astype(np.float32),
            reproj_px=lin(out.reproj_px, fit.reproj_px), body_uv=lin(out.body_uv, fit.body_uv),
            detections=sw(out.detections, fit.detections), cam_t=out.cam_R @ up * floor)
        for k, v in fit.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    return dataclasses.replace(out, timings={**timings, "windows": len(windows)})


def _blend_rotvec(a: np.ndarray, b: np.ndarray | None, w: np.ndarray | None) -> np.ndarray:
    """(n, J, 3) rotations: ``a`` (b None) or the normalised quaternion blend (1 - w) a + w b."""
    if b is None or not len(a):
        return a
    qa, qb = rotvec_to_quat(a), rotvec_to_quat(b)
    qb = np.where(((qa * qb).sum(-1) < 0)[..., None], -qb, qb)
    q = (1 - w)[:, None, None] * qa + w[:, None, None] * qb
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return quat_to_rotvec(q)


def spare_cores() -> float:
    """CPU cores this process may use minus the 1-minute load average (negative on an oversubscribed machine)."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores - os.getloadavg()[0]


def should_stream(ss: StreamSettings) -> bool:
    """Whether the fit should overlap detection now (see :attr:`StreamSettings.min_spare_cores`)."""
    if ss.min_spare_cores <= 0:
        return True
    spare = spare_cores()
    if spare < ss.min_spare_cores:
        log.info("no core to spare (%.1f): fitting after detection", spare)
        return False
    return True


def source_info(path: Path):
    """(fps, width, height, ...) of the video or image folder."""
    return FrameSource(path).info
