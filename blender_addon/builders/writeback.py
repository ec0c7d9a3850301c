"""Write an (edited) armature's animation back to a Motion / motion file (.npz or .smpl).

Pose-bone quaternions Q_j and the root location are read from the action's F-Curves with ``foreach_get`` and
converted back to the model convention: R_j = B_j Q_j B_j^T, transl = B_0 loc, with B_j the built bones' rest
rotations. Curves keyed on every frame are read directly; otherwise each curve is evaluated per frame.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from ..core.motion import Camera, Motion, MotionError
from ..core.readers import write_motion
from ..core.rotations import matrix_to_rotvec, quat_to_matrix
from .armature import bone_rest_orient
from .camera import camera_from_blender
from .. import body_record
from .common import assigned_fcurves, scene_fps, world_rotation


def _curve_samples(fc, frames: np.ndarray) -> np.ndarray:
    n = len(fc.keyframe_points)
    co = np.empty(2 * n, np.float32)
    fc.keyframe_points.foreach_get("co", co)
    co = co.reshape(n, 2)
    if n == len(frames) and np.allclose(co[:, 0], frames, atol=1e-4):
        return co[:, 1].astype(np.float64)
    return np.array([fc.evaluate(float(f)) for f in frames])


def _channels(fcurves, path: str, size: int, frames: np.ndarray, default: np.ndarray) -> np.ndarray:
    out = np.tile(default, (len(frames), 1)).astype(np.float64)
    for i in range(size):
        fc = fcurves.find(path, index=i) if hasattr(fcurves, "find") else None
        if fc is not None:
            out[:, i] = _curve_samples(fc, frames)
    return out


def _frame_range(fcurves) -> tuple[int, int]:
    lo, hi = np.inf, -np.inf
    for fc in fcurves:
        a, b = fc.range()
        lo, hi = min(lo, a), max(hi, b)
    if not np.isfinite(lo):
        raise MotionError("the armature's action has no keyframes")
    return int(round(lo)), int(round(hi))


def armature_motion(armature: bpy.types.Object | str, frame_range: tuple[int, int] | None = None) -> Motion:
    """Motion from a built armature's animation (joints = its bones, in bone order)."""
    ob = bpy.data.objects[armature] if isinstance(armature, str) else armature
    fcurves = assigned_fcurves(ob)
    if fcurves is None:
        raise MotionError(f"{ob.name}: has no animation to write back; build it from a motion first.")
    start, end = frame_range or _frame_range(fcurves)
    frames = np.arange(start, end + 1, dtype=np.float64)
    rec = body_record.record(ob)
    names = body_record.joint_names(ob) or [b.name for b in ob.data.bones]
    B = bone_rest_orient(ob, names)
    quats = np.empty((len(frames), len(names), 4))
    for j, jname in enumerate(names):
        base = f'pose.bones["{bpy.utils.escape_identifier(jname)}"]'
        quats[:, j] = _channels(fcurves, f"{base}.rotation_quaternion", 4, frames, np.array([1.0, 0, 0, 0]))
    loc = _channels(fcurves, f'pose.bones["{bpy.utils.escape_identifier(names[0])}"].location', 3, frames,
                    np.zeros(3))
    Q = quat_to_matrix(quats)
    R = np.einsum("jab,fjbc,jdc->fjad", B, Q, B)
    transl = loc @ B[0].T
    expression = _expression(ob, frames)
    root_dirs = np.asarray(body_record.root_expr_dirs(ob), np.float64).reshape(-1, 3)
    if expression is not None and len(root_dirs):  # the root location also carries (I - R_0) delta_0
        delta0 = expression[:, : len(root_dirs)] @ root_dirs[: expression.shape[1]]
        transl -= delta0 - np.einsum("fab,fb->fa", R[:, 0], delta0)
    axes = rec.axes or "Y"
    camera = _camera(body_record.body_camera(ob), frames, axes)
    fps = float(rec.fps or scene_fps(bpy.context.scene))
    motion = Motion(
        model=rec.model or "unknown", fps=fps, joint_names=tuple(names),
        rotvec=matrix_to_rotvec(R), transl=transl,
        betas=np.asarray(body_record.betas(ob), np.float64), expression=expression,
        camera=camera,
        gender=rec.gender or "neutral", up_axis="Z" if axes == "Z" else "Y", world_axes=axes,
        metadata={"source": "blender", "armature": ob.name, "scene_frame_start": start},
    )
    motion.validate(ob.name)
    return motion


def _expression(ob: bpy.types.Object, frames: np.ndarray) -> np.ndarray | None:
    mesh = body_record.body_mesh(ob)
    if mesh is None or mesh.data.shape_keys is None:
        return None
    names = body_record.shape_key_names(ob, "expression")
    if not names:
        return None
    blocks = mesh.data.shape_keys.key_blocks
    static = np.array([blocks[n].value if n in blocks else 0.0 for n in names])
    fcurves = assigned_fcurves(mesh.data.shape_keys)
    out = np.tile(static, (len(frames), 1))
    if fcurves is not None:
        for k, kname in enumerate(names):
            fc = fcurves.find(f'key_blocks["{bpy.utils.escape_identifier(kname)}"].value')
            if fc is not None:
                out[:, k] = _curve_samples(fc, frames)
    return out


def _camera(cam_ob: bpy.types.Object | None, frames: np.ndarray, axes: str) -> Camera | None:
    """The built camera's (possibly edited) animation as an OpenCV Camera, or None without a camera."""
    if cam_ob is None or cam_ob.type != "CAMERA":
        return None
    data = cam_ob.data
    scene = bpy.context.scene
    size = body_record.camera_image_size(cam_ob) or (scene.render.resolution_x, scene.render.resolution_y)
    obj_curves = assigned_fcurves(cam_ob)
    data_curves = assigned_fcurves(data)
    if obj_curves is None:
        obj_curves = []
    q_static = np.array(cam_ob.matrix_world.to_quaternion())
    loc = _channels(obj_curves, "location", 3, frames, np.array(cam_ob.matrix_world.translation))
    quat = _channels(obj_curves, "rotation_quaternion", 4, frames, q_static)
    lens, sx, sy = (_channels(data_curves or [], path, 1, frames, np.array([getattr(data, path)]))[:, 0]
                    for path in ("lens", "shift_x", "shift_y"))
    return camera_from_blender(loc, quat, lens, sx, sy, size, world_rotation(axes), data.sensor_width)


def export_motion(armature: bpy.types.Object | str, path: str | Path,
                  frame_range: tuple[int, int] | None = None) -> Path:
    """Write the armature's animation to ``path`` (.npz project motion or .smpl). Returns the path."""
    return write_motion(path, armature_motion(armature, frame_range))
