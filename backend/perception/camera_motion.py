"""Camera motion from the background: per-frame rotation and focal length of a panning/tilting/zooming camera.

A camera that turns and zooms about its centre maps frame ``a`` to frame ``b`` by the homography
``H_ab = K_b R_ab K_a^-1`` (no parallax), so the background alone gives the camera's rotation and focal length per
frame. The person is masked out (tracked box + segmentation), features are tracked frame to frame (Shi-Tomasi
corners + pyramidal Lucas-Kanade with a forward-backward check), each step is fitted as a rotation and a zoom
ratio (robust least squares on the inlier tracks) and the steps are chained.

Conventions: ``rotation[i]`` (3, 3) takes the reference camera's axes (frame 0 of the range, OpenCV: x right,
y down, z forward) to frame ``i``'s, so ``x_i ~ K_i rotation[i] K_0^-1 x_0``; ``focal[i]`` is in pixels, the
principal point stays at the image centre. The reference focal length is the fit's (a prior or ``--focal``): a
rotating camera fixes the focal length only up to that choice, the zoom ratio ``focal[i] / focal[0]`` is measured.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from backend.perception.frames import FrameRange, FrameSource
from backend.perception.keypoints import Keypoints

log = logging.getLogger(__name__)

TRACK_WIDTH = 640  # pixels: frames are tracked at this width
STATIC_PX = 0.5  # full-resolution pixels: the median background track of a static camera moves less
KEYFRAME_EVERY = 15  # frames between direct checks against the first frame
MIN_TRACKS = 40  # inlier background tracks a step needs; fewer: the camera is taken as static (with a warning)


@dataclasses.dataclass(frozen=True)
class CameraMotion:
    """Per-frame camera rotation and focal length relative to the first frame of the range."""

    rotation: np.ndarray  # (F, 3, 3) reference camera axes -> frame camera axes
    focal: np.ndarray  # (F,) pixels
    image_size: tuple[int, int]  # (width, height) pixels
    static: bool  # True: the camera did not move (rotation identity, focal constant)
    tracks: np.ndarray  # (F,) inlier background tracks behind each step (0 for frame 0)
    warning: str = ""  # set when tracking fell back to a static camera

    @property
    def num_frames(self) -> int:
        return int(self.focal.shape[0])

    def intrinsics(self) -> np.ndarray:
        """(F, 3, 3) K per frame (principal point at the image centre)."""
        w, h = self.image_size
        K = np.zeros((self.num_frames, 3, 3))
        K[:, 0, 0] = K[:, 1, 1] = self.focal
        K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = w / 2.0, h / 2.0, 1.0
        return K

    def homographies(self) -> np.ndarray:
        """(F, 3, 3) maps from reference-frame pixels to each frame's pixels."""
        K = self.intrinsics()
        return K @ self.rotation @ np.linalg.inv(K[0])

    def save(self, path: str | Path) -> Path:
        from blender_addon.core.npzio import write_npz_atomic

        return write_npz_atomic(path, {"rotation": self.rotation, "focal": self.focal, "tracks": self.tracks,
                                       "image_size": np.asarray(self.image_size), "static": np.asarray(self.static),
                                       "warning": np.asarray(self.warning)})

    @classmethod
    def load(cls, path: str | Path) -> CameraMotion:
        with np.load(path, allow_pickle=False) as d:
            return cls(d["rotation"], d["focal"], tuple(int(v) for v in d["image_size"]), bool(d["static"]),
                       d["tracks"], str(d["warning"]))

    def metadata(self) -> dict:
        """What the motion file's metadata records about the camera."""
        angles = np.degrees(np.linalg.norm(Rotation.from_matrix(self.rotation).as_rotvec(), axis=1))
        return {"camera_motion": "static" if self.static else "rotating",
                "camera_max_rotation_deg": float(angles.max(initial=0.0)),
                "camera_zoom_range": [float(self.focal.min() / self.focal[0]), float(self.focal.max() / self.focal[0])],
                **({"camera_warning": self.warning} if self.warning else {})}


def reference_focal(image_size: tuple[int, int], focal: float | None = None) -> float:
    """The first frame's focal length in pixels: ``focal``, else the fit's default 0.9 x the longer image side."""
    return float(focal or 0.9 * max(image_size))


def static_camera(num_frames: int, focal: float, image_size: tuple[int, int], warning: str = "") -> CameraMotion:
    return CameraMotion(np.repeat(np.eye(3)[None], num_frames, 0), np.full(num_frames, float(focal)),
                        tuple(int(v) for v in image_size), True, np.zeros(num_frames, np.int64), warning)


class CameraTracker:
    """Tracks the background as frames stream (fed by detection, so nothing is decoded twice).

    :meth:`feed` takes each frame with the person's box/mask; :meth:`finish` returns the :class:`CameraMotion`.
    While the camera looks static it costs a resize per frame: every :data:`KEYFRAME_EVERY` frames the current frame
    is tracked against the first one directly, and while it lines up (median track < :data:`STATIC_PX`) the frames
    since the last check are static. Once a check finds motion, the frames since the last static check (kept in a
    short buffer) and every later one are tracked step by step.
    """

    def __init__(self) -> None:
        self.image_size: tuple[int, int] = (0, 0)
        self.scale = 1.0  # tracking px per full-resolution px
        self._first: tuple[np.ndarray, np.ndarray] | None = None  # (grey, mask) of frame 0
        self._recent: list[tuple[np.ndarray, np.ndarray]] = []  # frames since the last static check (it included)
        self._steps: list[tuple[np.ndarray, np.ndarray] | None] = []  # per step: inlier tracks, or None = static
        self._moving = False
        self._count = 0

    def feed(self, bgr: np.ndarray, bbox: np.ndarray | None = None, mask: np.ndarray | None = None) -> None:
        """Frame (H, W, 3) BGR; the person's box (4,) x0, y0, x1, y1 full-res px (None: not found) and probability
        mask (h, w) uint8 at any resolution (None or empty: none)."""
        h, w = bgr.shape[:2]
        if self._count == 0:
            self.image_size, self.scale = (int(w), int(h)), TRACK_WIDTH / w
        grey = cv2.cvtColor(cv2.resize(bgr, (TRACK_WIDTH, max(1, round(h * self.scale))),
                                       interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2GRAY)  # 8x faster than AREA
        frame = (grey, _background_mask(grey.shape, self.scale, bbox, mask))
        self._count += 1
        if self._first is None:
            self._first, self._recent = frame, [frame]
        elif self._moving:
            self._steps.append(_inlier_tracks(self._recent[-1], frame))
            self._recent = [frame]
        else:
            self._recent.append(frame)
            if (self._count - 1) % KEYFRAME_EVERY == 0:
                self._check_static()

    def _check_static(self) -> None:
        """Compare the newest frame with the first: static -> the buffered steps are static; else start tracking."""
        if _moved_from(self._first, self._recent[-1], self.scale):
            self._moving = True
            self._steps += [_inlier_tracks(a, b) for a, b in zip(self._recent[:-1], self._recent[1:])]
            self._recent = self._recent[-1:]
        else:
            self._steps += [None] * (len(self._recent) - 1)
            self._recent = self._recent[-1:]

    @property
    def num_frames(self) -> int:
        return self._count

    @property
    def moving(self) -> bool:
        """True once a check found the camera moving (set from the producer thread during detection)."""
        return self._moving

    def finish(self, focal: float) -> CameraMotion:
        """The camera of every fed frame; ``focal`` (pixels) is the first frame's focal length."""
        n = self._count
        if not self._moving and len(self._recent) > 1:
            self._check_static()
        if n < 2 or not self._moving:
            return static_camera(max(n, 1), focal, self.image_size)
        counts = np.array([0] + [MIN_TRACKS if p is None else len(p[0]) for p in self._steps], np.int64)
        if counts[1:].min() < MIN_TRACKS:
            warning = (f"too few background features to track the camera (as few as {int(counts[1:].min())} in a "
                       f"frame, {MIN_TRACKS} needed); the camera is taken as static")
            log.warning(warning)
            return static_camera(n, focal, self.image_size, warning)
        rotation, zoom = _chain(self._steps, focal * self.scale)
        return CameraMotion(rotation, focal * zoom, self.image_size, False, counts)

    def hook(self, bgr: np.ndarray, arrays: dict, n: int) -> None:
        """:func:`~backend.perception.detect.detect_keypoints`'s ``frame_hook``: feed the frame with its detection."""
        self.feed(bgr, arrays["bbox"][n] if arrays["found"][n] else None,
                  arrays["masks"][n] if arrays["masks"].size else None)


def track_camera(video: str | Path, kp: Keypoints, frame_range: FrameRange, focal: float) -> CameraMotion:
    """The camera of every frame of ``kp`` (frames ``kp.frame_indices`` of ``video``), decoding the video once more
    (for detections that came from a cache)."""
    tracker = CameraTracker()
    n = -1
    for n, (_, bgr) in enumerate(FrameSource(video).frames(frame_range)):
        if n >= kp.num_frames:
            break
        tracker.feed(bgr, kp.bbox[n] if kp.found[n] else None, kp.masks[n] if kp.masks.size else None)
    if n + 1 < kp.num_frames:
        raise ValueError(f"{video}: decoded {n + 1} frames for camera tracking, expected {kp.num_frames}")
    return tracker.finish(focal)


def stabilize_keypoints(kp: Keypoints, camera: CameraMotion) -> Keypoints:
    """The detections as the reference camera (frame 0, focal ``camera.focal[0]``) would have seen them: every 2D
    landmark and box mapped by the inverse of its frame's homography; masks warped alike. Identity when static."""
    if camera.static:
        return kp
    H_inv = np.linalg.inv(camera.homographies())  # (F, 3, 3) frame pixels -> reference pixels
    points = {name: _map_points(getattr(kp, name), H_inv) for name in ("body", "left_hand", "right_hand", "face")}
    corners = _map_points(np.concatenate([kp.bbox.reshape(-1, 2, 2), np.ones((kp.num_frames, 2, 1))], 2), H_inv)
    bbox = np.where(kp.found[:, None], corners[:, :, :2].reshape(-1, 4), 0.0).astype(kp.bbox.dtype)
    return dataclasses.replace(kp, **points, bbox=bbox, masks=_warp_masks(kp, H_inv))


# ---- steps -----------------------------------------------------------------------------------------------------


def _background_mask(shape: tuple[int, int], scale: float, bbox: np.ndarray | None,
                     person: np.ndarray | None) -> np.ndarray:
    """uint8 (h, w) mask at tracking size: 255 where features may be taken (not on the person, not the border)."""
    h, w = shape
    mask = np.full((h, w), 255, np.uint8)
    margin = max(4, w // 64)
    mask[:margin], mask[-margin:], mask[:, :margin], mask[:, -margin:] = 0, 0, 0, 0
    if person is not None and person.ndim == 2 and person.size:
        on = cv2.resize(person, (w, h), interpolation=cv2.INTER_LINEAR) > 64
        mask[cv2.dilate(on.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0] = 0
    if bbox is not None:
        x0, y0, x1, y1 = np.asarray(bbox, np.float64) * scale
        pad_x, pad_y = 0.25 * (x1 - x0) + 4, 0.15 * (y1 - y0) + 4
        mask[max(0, int(y0 - pad_y)):max(0, int(y1 + pad_y) + 1), max(0, int(x0 - pad_x)):max(0, int(x1 + pad_x) + 1)] = 0
    return mask


def _tracks(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Corner tracks from grey image ``a`` to ``b``: (N, 2) points in a, (N, 2) in b (forward-backward checked)."""
    p0 = cv2.goodFeaturesToTrack(a, maxCorners=400, qualityLevel=0.01, minDistance=8, mask=mask, blockSize=7)
    if p0 is None or len(p0) < 8:
        return np.zeros((0, 2)), np.zeros((0, 2))
    lk = dict(winSize=(21, 21), maxLevel=4, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, **lk)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, **lk)
    good = (st1[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm(back - p0, axis=2)[:, 0] < 0.5)
    return p0[good, 0].astype(np.float64), p1[good, 0].astype(np.float64)


def _inlier_tracks(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Background tracks between two (grey, mask) frames that a RANSAC homography keeps, centred on the image."""
    pa, pb = _tracks(a[0], b[0], a[1] & b[1])
    if len(pa) >= 8:
        H, inl = cv2.findHomography(pa, pb, cv2.RANSAC, 1.5)
        keep = inl[:, 0] == 1 if H is not None else np.zeros(len(pa), bool)
        pa, pb = pa[keep], pb[keep]
    centre = np.array([a[0].shape[1] / 2.0, a[0].shape[0] / 2.0])
    return pa - centre, pb - centre


def _moved_from(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], scale: float) -> bool:
    """True when frame ``b`` does not line up with ``a``: too few tracks or a median track > STATIC_PX."""
    pa, pb = _tracks(a[0], b[0], a[1] & b[1])
    if len(pa) < MIN_TRACKS:
        return True
    return bool(np.median(np.linalg.norm(pb - pa, axis=1)) / scale > STATIC_PX)


def _fit_step(a: np.ndarray, b: np.ndarray, focal: float) -> tuple[np.ndarray, float]:
    """Rotation and zoom taking centred inlier points ``a`` (camera focal ``focal``) to ``b``: robust least squares
    over (rotation vector, log zoom). Returns (R (3, 3), zoom ratio)."""
    if len(a) < 8:
        return np.eye(3), 1.0
    a, b = a.astype(np.float64), b.astype(np.float64)
    rays = np.concatenate([a / focal, np.ones((len(a), 1))], 1)

    def residual(x: np.ndarray) -> np.ndarray:
        q = rays @ Rotation.from_rotvec(x[:3]).as_matrix().T
        return (focal * np.exp(x[3]) * q[:, :2] / q[:, 2:3] - b).ravel()

    sol = least_squares(residual, np.zeros(4), loss="soft_l1", f_scale=1.0)
    return Rotation.from_rotvec(sol.x[:3]).as_matrix(), float(np.exp(sol.x[3]))


def _chain(steps: list[tuple[np.ndarray, np.ndarray] | None], focal: float) -> tuple[np.ndarray, np.ndarray]:
    """Fit each step at the focal length it starts from and accumulate: (F, 3, 3) rotations and (F,) zoom
    relative to frame 0 (``focal`` in tracking pixels); a None step is static."""
    R, zoom = [np.eye(3)], [1.0]
    for step in steps:
        rot, z = (np.eye(3), 1.0) if step is None else _fit_step(*step, focal * zoom[-1])
        R.append(rot @ R[-1])
        zoom.append(zoom[-1] * z)
    return np.stack(R), np.asarray(zoom)


def _map_points(points: np.ndarray, H: np.ndarray) -> np.ndarray:
    """(F, N, 3) x, y, confidence mapped by (F, 3, 3) homographies; confidence and missing points kept."""
    xy1 = np.concatenate([points[..., :2].astype(np.float64), np.ones(points.shape[:2] + (1,))], -1)
    mapped = np.einsum("fij,fnj->fni", H, xy1)
    out = points.copy()
    out[..., :2] = np.where(points[..., 2:3] > 0, mapped[..., :2] / mapped[..., 2:3], points[..., :2])
    return out


def _warp_masks(kp: Keypoints, H: np.ndarray) -> np.ndarray:
    if not kp.masks.size or kp.masks.shape[1] == 0:
        return kp.masks
    h, w = kp.masks.shape[1:]
    s = np.diag([w / kp.image_size[0], h / kp.image_size[1], 1.0])
    Hs = s @ H @ np.linalg.inv(s)
    return np.stack([cv2.warpPerspective(m, Hs[i], (w, h)) for i, m in enumerate(kp.masks)])
