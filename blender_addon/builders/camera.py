"""Motion camera (OpenCV intrinsics/extrinsics per frame) -> an animated Blender camera, optional video plate."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from ..body_record import ensure_registered
from ..core.motion import Camera
from ..core.rotations import matrix_to_quat, quat_continuity
from .common import Created, add_curves, new_action

SENSOR_WIDTH_MM = 36.0
_CV_TO_BLENDER_CAM = np.diag([1.0, -1.0, -1.0])  # OpenCV camera axes -> Blender camera axes (-Z forward, Y up)


def camera_world_matrices(cam: Camera, world_rot: np.ndarray) -> np.ndarray:
    """(F, 4, 4) Blender camera object matrices from world->camera R (F,3,3), t (F,3) in the motion world;
    ``world_rot`` (3, 3) takes the motion world to Blender's world."""
    R = np.asarray(cam.R, np.float64)
    t = np.asarray(cam.t, np.float64)
    centre = -np.einsum("fba,fb->fa", R, t)  # C = -R^T t
    M = np.zeros((R.shape[0], 4, 4))
    M[:, :3, :3] = world_rot @ R.transpose(0, 2, 1) @ _CV_TO_BLENDER_CAM
    M[:, :3, 3] = centre @ world_rot.T
    M[:, 3, 3] = 1.0
    return M


def lens_and_shift(K: np.ndarray, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Focal length in mm (F,) for a 36 mm sensor fitted to the larger image side, and shift_x/shift_y (F,)."""
    K = np.asarray(K, np.float64)
    w, h = image_size
    side = float(max(w, h))
    lens = K[:, 0, 0] * SENSOR_WIDTH_MM / side
    shift_x = (0.5 * w - K[:, 0, 2]) / side
    shift_y = (K[:, 1, 2] - 0.5 * h) / side
    return lens, shift_x, shift_y


def _varies(x: np.ndarray) -> bool:
    return bool(np.ptp(x) > 1e-6) if x.size > 1 else False


def build_camera(cam: Camera, name: str, world_rot: np.ndarray, frame_start: int, created: Created,
                 video: str | Path | None = None, frame_offset: int = 0, frame_stride: int = 1) -> bpy.types.Object:
    """Animated camera object (not linked yet). Constant intrinsics are set once, varying ones keyed.

    With ``video`` the camera gets the video as its background plate, showing source frame
    ``frame_offset + i * frame_stride`` (0-based; the motion's source-frame mapping) at scene frame
    ``frame_start + i``."""
    data = created.add(bpy.data.cameras.new(name))
    ob = created.add(bpy.data.objects.new(name, data))
    data.sensor_fit = "AUTO"
    data.sensor_width = SENSOR_WIDTH_MM
    lens, sx, sy = lens_and_shift(cam.K, cam.image_size)
    data.lens, data.shift_x, data.shift_y = float(lens[0]), float(sx[0]), float(sy[0])
    ensure_registered()
    ob.smplpix.image_size = [int(v) for v in cam.image_size]
    M = camera_world_matrices(cam, world_rot)
    ob.rotation_mode = "QUATERNION"
    ob.matrix_world = Matrix(M[0].tolist())
    F = M.shape[0]
    frames = frame_start + np.arange(F, dtype=np.float64)
    if F > 1:
        _, fcurves = new_action(ob, f"{name}Action", created)
        add_curves(fcurves, "location", frames, M[:, :3, 3], "Object Transforms")
        add_curves(fcurves, "rotation_quaternion", frames, quat_continuity(matrix_to_quat(M[:, :3, :3]), 0),
                   "Object Transforms")
        if _varies(lens) or _varies(sx) or _varies(sy):
            _, dcurves = new_action(data, f"{name}DataAction", created)
            for path, vals in (("lens", lens), ("shift_x", sx), ("shift_y", sy)):
                add_curves(dcurves, path, frames, vals[:, None], "Camera")
    if video is not None:
        add_video_plate(data, video, frames, frame_offset, frame_stride, created)
    return ob


def plate_offsets(num_frames: int, frame_offset: int, frame_stride: int) -> np.ndarray:
    """(F,) ImageUser frame offsets that show 0-based source frame ``frame_offset + i * frame_stride`` at the i-th
    scene frame of the plate (Blender shows 1-based movie frame ``i + 1 + offset`` there)."""
    i = np.arange(num_frames, dtype=np.float64)
    return frame_offset + i * (frame_stride - 1)


def add_video_plate(data: bpy.types.Camera, video: str | Path, frames: np.ndarray, frame_offset: int,
                    frame_stride: int, created: Created) -> None:
    """The source video as the camera's background, frame-synced to the motion at scene ``frames`` (F,).

    Stride 1: a movie clip starting ``frame_offset`` frames before the first scene frame (so it plays source
    frame ``frame_offset`` there). Stride > 1: the movie as a background image whose frame offset is keyed
    (CONSTANT) per frame, since a clip cannot skip frames."""
    video = Path(video)
    if not video.is_file():
        raise FileNotFoundError(f"{video}: source video not found; pick the video file the motion came from.")
    data.show_background_images = True
    if frame_stride == 1:
        clip = created.add(bpy.data.movieclips.load(str(video)))
        clip.frame_start = int(frames[0]) - int(frame_offset)
        bg = data.background_images.new()
        bg.source = "MOVIE_CLIP"
        bg.clip = clip
        bg.alpha = 1.0
        return
    image = created.add(bpy.data.images.load(str(video), check_existing=False))
    bg = data.background_images.new()
    bg.source = "IMAGE"
    bg.image = image
    bg.alpha = 1.0
    user = bg.image_user
    user.frame_start = int(frames[0])
    user.frame_duration = max(int(image.frame_duration), int(frame_offset + len(frames) * frame_stride))
    offsets = plate_offsets(len(frames), frame_offset, frame_stride)
    user.frame_offset = int(offsets[0])
    if len(frames) > 1:
        from .common import assigned_fcurves

        fcurves = assigned_fcurves(data)
        if fcurves is None:
            _, fcurves = new_action(data, f"{data.name}DataAction", created)
        index = len(data.background_images) - 1
        add_curves(fcurves, f"background_images[{index}].image_user.frame_offset", frames, offsets[:, None],
                   "Video plate", interpolation="CONSTANT")


def camera_from_blender(loc: np.ndarray, quat: np.ndarray, lens: np.ndarray, shift_x: np.ndarray,
                        shift_y: np.ndarray, image_size: tuple[int, int], world_rot: np.ndarray,
                        sensor_width: float = SENSOR_WIDTH_MM) -> Camera:
    """Inverse of :func:`camera_world_matrices` and :func:`lens_and_shift`: Blender camera channels per frame
    (location (F, 3), rotation quaternion (F, 4), lens mm / shift (F,)) -> OpenCV Camera in the motion world."""
    from ..core.rotations import quat_to_matrix

    rot = quat_to_matrix(quat)
    cam_to_world = world_rot.T @ rot @ _CV_TO_BLENDER_CAM  # (F, 3, 3) OpenCV camera axes in the motion world
    R = cam_to_world.transpose(0, 2, 1)
    centre = np.asarray(loc, np.float64) @ world_rot  # W^T loc, row-wise
    t = -np.einsum("fab,fb->fa", R, centre)
    w, h = image_size
    side = float(max(w, h))
    F = len(loc)
    K = np.zeros((F, 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = np.asarray(lens) * side / sensor_width
    K[:, 0, 2] = 0.5 * w - np.asarray(shift_x) * side
    K[:, 1, 2] = 0.5 * h + np.asarray(shift_y) * side
    K[:, 2, 2] = 1.0
    return Camera(K=K, R=R, t=t, image_size=(int(w), int(h)))
