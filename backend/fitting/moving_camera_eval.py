"""Moving-camera check on real footage with a known camera: a tripod video re-imaged by a virtual pan/tilt/zoom
(:mod:`backend.demo.virtual_camera`) is estimated, and the recovered camera and the body's world trajectory are
compared with the applied camera and with the estimate of the original (static) video.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from backend.demo.virtual_camera import virtual_path, warp_video
from backend.fitting.estimate import EstimateRequest, estimate
from backend.perception.camera_motion import reference_focal
from backend.perception.frames import FrameRange, FrameSource
from blender_addon.core.motion import Motion


@dataclasses.dataclass(frozen=True)
class MovingCameraReport:
    frames: int
    rotation_error_deg: float  # max over frames, recovered vs applied camera rotation
    focal_error_pct: float  # max over frames, recovered vs applied focal length
    root_error_m: float  # median over frames, world root position: moving-camera estimate vs static estimate
    root_travel_m: float  # how far the root moves in the static estimate (scale for root_error_m)
    static_stays_static: bool  # the original video's motion has a constant camera

    def lines(self) -> list[str]:
        return [f"frames                 {self.frames}",
                f"camera rotation error  {self.rotation_error_deg:.3f} deg (max)",
                f"camera focal error     {self.focal_error_pct:.2f} % (max)",
                f"world root error       {100 * self.root_error_m:.1f} cm (median; root travels "
                f"{100 * self.root_travel_m:.0f} cm)",
                f"static video static    {self.static_stays_static}"]


def evaluate_moving_camera(video: Path, work: Path, frames: FrameRange, pan_deg: float = 8.0,
                           zoom: float = 1.25, iterations: int | None = None) -> MovingCameraReport:
    """Estimate ``video`` (tripod) and its virtual-camera version over ``frames``; compare (see the module doc)."""
    work.mkdir(parents=True, exist_ok=True)
    info = FrameSource(video).info
    n = len(frames.indices(info.num_frames))
    truth = virtual_path(n, reference_focal((info.width, info.height)), (info.width, info.height), pan_deg, zoom=zoom)
    moving = warp_video(video, work / "moving.mp4", frames, truth)
    static_motion = _estimate(video, work / "static.npz", frames, iterations)
    moving_motion = _estimate(moving, work / "moving.npz", FrameRange(), iterations)
    cam = moving_motion.camera
    R_rel = cam.R @ np.linalg.inv(cam.R[0])  # recovered rotation relative to the first frame
    rot_err = np.linalg.norm(Rotation.from_matrix(R_rel @ truth.rotation.transpose(0, 2, 1)).as_rotvec(), axis=1)
    focal_err = np.abs(cam.K[:, 0, 0] / truth.focal - 1.0)
    root_s, root_m = static_motion.transl, moving_motion.transl
    return MovingCameraReport(
        frames=n, rotation_error_deg=float(np.degrees(rot_err).max()), focal_error_pct=float(100 * focal_err.max()),
        root_error_m=float(np.median(np.linalg.norm(root_m - root_s, axis=1))),
        root_travel_m=float(np.linalg.norm(np.ptp(root_s, axis=0))),
        static_stays_static=bool(np.ptp(static_motion.camera.R, axis=0).max() == 0
                                 and np.ptp(static_motion.camera.K, axis=0).max() == 0))


def _estimate(video: Path, out: Path, frames: FrameRange, iterations: int | None) -> Motion:
    from backend.fitting.fit import FitSettings

    fit = FitSettings() if iterations is None else dataclasses.replace(FitSettings(), iters_body=iterations)
    estimate(EstimateRequest(input=video, output=out, frames=frames, cache_dir=out.parent / "cache", fit=fit))
    return Motion.load(out)
