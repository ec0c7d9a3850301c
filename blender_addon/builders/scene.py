"""Top-level builders: ``build_body`` (rest pose) and ``build_motion`` (animated), each one undoable unit.

Everything is created first, then linked into the collection at the end; on any error every ID made so far is
removed, so no half-built scene is left behind. Results carry object/action names (operators pass names).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import bpy
import numpy as np

from ..core.motion import Motion
from ..core.readers import read_motion, remap_motion
from ..core.resample import resample_motion
from ..core.rigspec import RigSpec
from .animation import animate_armature, animate_shape_keys
from .armature import build_armature
from .camera import build_camera
from .. import body_record
from .common import Created, scene_fps, set_scene_fps, world_rotation
from .mesh import build_skinned_mesh
from .shapekeys import add_rig_shape_keys, set_shape_values


@dataclasses.dataclass(frozen=True)
class BuildResult:
    armature: str
    mesh: str
    camera: str | None = None
    actions: tuple[str, ...] = ()
    frame_start: int = 1
    frame_end: int = 1
    fps: float = 0.0
    shape_keys: dict = dataclasses.field(default_factory=dict)  # group -> key names


def _rig(rig: RigSpec | str | Path) -> RigSpec:
    if isinstance(rig, RigSpec):
        rig.validate(f"RigSpec {rig.model}")
        return rig
    return RigSpec.load(rig)


def _path(source) -> str:
    """The file a rig/motion came from, for the body record ("" for in-memory data)."""
    return str(Path(source).resolve()) if isinstance(source, (str, Path)) else ""


def _motion_axes(motion: Motion) -> str:
    return motion.world_axes


def _build(rig: RigSpec, name: str, betas: np.ndarray | None, axes: str, collection, shape_keys: bool,
           expressions: bool, correctives: bool, created: Created, expr_values: np.ndarray | None = None):
    if isinstance(collection, str):
        if collection not in bpy.data.collections:
            raise ValueError(f"no collection named {collection!r}; pick an existing collection or leave it empty.")
        collection = bpy.data.collections[collection]
    coll = collection or bpy.context.scene.collection
    betas = np.zeros(0) if betas is None else np.asarray(betas, np.float64)[: len(rig.shape_names)]
    verts, joints = rig.rest_state(betas)
    arm = build_armature(rig, name, joints, axes, coll, created)
    base_verts = rig.template if (shape_keys and len(rig.shape_names)) else verts
    mesh = build_skinned_mesh(rig, f"{name}Mesh", base_verts, arm, created)
    keys = add_rig_shape_keys(mesh, rig, shape=shape_keys, expressions=expressions, correctives=correctives,
                              expr_values=expr_values)
    if keys["shape"] and len(betas):
        set_shape_values(mesh, keys["shape"][: len(betas)], betas)
    root_dirs = rig.expr_joint_dirs[:, 0] if rig.expr_joint_dirs.size else np.zeros((0, 3))
    body_record.write_build(arm, mesh, model=rig.model, gender=rig.gender, axes=axes, betas=betas,
                            joint_names=rig.joint_names, shape_keys=keys,
                            root_expr_dirs=root_dirs if np.abs(root_dirs).max(initial=0.0) > 1e-9 else ())
    return arm, mesh, keys, coll


def _scene_snapshot(scene):
    """A function that puts back the scene settings a build may change (fps, frame range, camera, resolution)."""
    r = scene.render
    saved = (r.fps, r.fps_base, scene.frame_start, scene.frame_end, scene.camera, r.resolution_x, r.resolution_y,
             r.resolution_percentage)

    def restore() -> None:
        (r.fps, r.fps_base, scene.frame_start, scene.frame_end, scene.camera, r.resolution_x, r.resolution_y,
         r.resolution_percentage) = saved

    return restore


def _set_scene(scene, motion: Motion, frame_start: int, frame_end: int, cam_ob) -> None:
    set_scene_fps(scene, motion.fps)
    scene.frame_start, scene.frame_end = frame_start, frame_end
    if cam_ob is not None:
        scene.camera = cam_ob
        scene.render.resolution_x, scene.render.resolution_y = motion.camera.image_size
        scene.render.resolution_percentage = 100


def build_body(rig: RigSpec | str | Path, name: str = "Body", betas: np.ndarray | None = None, collection=None,
               shape_keys: bool = True, expressions: bool = True, correctives: bool = True,
               axes: str | None = None) -> BuildResult:
    """Build a rest-pose body: armature + skinned mesh + shape keys. ``betas`` (S,) sets the body shape
    (bones at the shaped joints, shape keys set to betas). ``axes`` defaults to the rig's up axis."""
    rig_arg, rig = rig, _rig(rig)
    created = Created()
    try:
        arm, mesh, keys, coll = _build(rig, name, betas, axes or rig.up_axis, collection, shape_keys, expressions,
                                       correctives, created)
        arm.smplpix.rig_path = _path(rig_arg)
        coll.objects.link(mesh)
    except BaseException:
        created.remove_all()
        raise
    return BuildResult(armature=arm.name, mesh=mesh.name, shape_keys=keys)


def build_motion(rig: RigSpec | str | Path, motion: Motion | str | Path, name: str = "Body",
                 fps: float | None = None, frame_start: int = 1, collection=None, shape_keys: bool = True,
                 expressions: bool = True, correctives: bool = True, camera: bool = True,
                 video: str | Path | None = None, set_scene: bool = True) -> BuildResult:
    """Build an animated body from a motion (a Motion or any file :func:`read_motion` reads).

    fps: None keeps the motion's frame rate (and sets the scene to it); a number resamples the motion to it
    with the same real-time duration. Joints are matched to the rig by name. With ``camera`` and a motion
    camera, an animated camera is added (``video``, default ``motion.source_video`` if it exists, becomes its
    background). With ``set_scene`` the scene's fps, frame range, resolution and active camera are set.
    """
    rig_arg, motion_arg, rig = rig, motion, _rig(rig)
    if not isinstance(motion, Motion):
        motion = read_motion(motion)
    motion = remap_motion(motion, rig.joint_names, model=motion.model)
    if fps is not None:
        motion = resample_motion(motion, fps)
    axes = _motion_axes(motion)
    created = Created()
    scene = bpy.context.scene
    restore_scene = _scene_snapshot(scene)
    try:
        arm, mesh, keys, coll = _build(rig, name, motion.betas, axes, collection, shape_keys, expressions,
                                       correctives, created, expr_values=motion.expression)
        body_motion = motion if expressions else dataclasses.replace(motion, expression=None)
        act, R = animate_armature(arm, rig, body_motion, frame_start, created)
        actions = [act]
        shape_act = animate_shape_keys(mesh, rig, motion, frame_start, created, keys["expression"], keys["pose"], R)
        if shape_act:
            actions.append(shape_act)
        src = video or (motion.source_video if motion.source_video and Path(motion.source_video).is_file() else None)
        cam_ob = None
        if camera and motion.camera is not None:
            cam_ob = build_camera(motion.camera, f"{name}Camera", world_rotation(axes), frame_start, created, src,
                                  frame_offset=motion.frame_start, frame_stride=motion.frame_stride)
        body_record.set_animation(arm, fps=motion.fps, camera=cam_ob, motion_path=_path(motion_arg),
                                  video_path=_path(src) if src else "")
        arm.smplpix.rig_path = _path(rig_arg)
        coll.objects.link(mesh)
        if cam_ob is not None:
            coll.objects.link(cam_ob)
        frame_end = frame_start + motion.num_frames - 1
        if set_scene:
            _set_scene(scene, motion, frame_start, frame_end, cam_ob)
    except BaseException:
        created.remove_all()
        restore_scene()
        raise
    return BuildResult(armature=arm.name, mesh=mesh.name, camera=cam_ob.name if cam_ob else None,
                       actions=tuple(actions), frame_start=frame_start, frame_end=frame_end,
                       fps=scene_fps(scene) if set_scene else float(motion.fps), shape_keys=keys)


def apply_motion(rig: RigSpec | str | Path, armature: str, motion: Motion | str | Path, fps: float | None = None,
                 frame_start: int = 1, set_scene: bool = True) -> BuildResult:
    """Animate an already built body (``armature`` name, built from the same rig) with another motion.

    New actions replace the armature's and its mesh's shape-key actions (the old actions stay in the file). The
    body keeps its bones and shape: the motion's betas are not applied. On error the previous actions come back.
    """
    rig = _rig(rig)
    arm = bpy.data.objects.get(armature)
    if arm is None or arm.type != "ARMATURE":
        raise ValueError(f"no armature object named {armature!r}; build the body first.")
    names = body_record.joint_names(arm)
    if names is not None and names != rig.joint_names:
        raise ValueError(f"{armature} was built from another rig ({len(names)} joints, not {rig.num_joints}); "
                         "pass the RigSpec it was built from.")
    mesh = body_record.body_mesh(arm)
    motion_arg = motion
    if not isinstance(motion, Motion):
        motion = read_motion(motion)
    motion = remap_motion(motion, rig.joint_names, model=motion.model)
    if fps is not None:
        motion = resample_motion(motion, fps)
    keys = {g: body_record.shape_key_names(arm, g) for g in body_record.SHAPE_GROUPS}
    expr_names, pose_names = keys["expression"], keys["pose"]
    previous = [(id_data, id_data.animation_data.action if id_data.animation_data else None,
                 getattr(id_data.animation_data, "action_slot", None) if id_data.animation_data else None)
                for id_data in (arm, mesh.data.shape_keys if mesh is not None and mesh.data.shape_keys else None)
                if id_data is not None]
    created = Created()
    try:
        body_motion = motion if expr_names else dataclasses.replace(motion, expression=None)
        act, R = animate_armature(arm, rig, body_motion, frame_start, created)
        actions = [act]
        if mesh is not None and mesh.data.shape_keys is not None:
            shape_act = animate_shape_keys(mesh, rig, motion, frame_start, created, expr_names, pose_names, R)
            if shape_act:
                actions.append(shape_act)
    except BaseException:
        created.remove_all()
        for id_data, action, slot in previous:
            if id_data.animation_data is not None:
                id_data.animation_data.action = action
                if slot is not None:
                    id_data.animation_data.action_slot = slot
        raise
    frame_end = frame_start + motion.num_frames - 1
    scene = bpy.context.scene
    if set_scene:
        set_scene_fps(scene, motion.fps)
        scene.frame_start, scene.frame_end = frame_start, frame_end
    body_record.set_animation(arm, fps=motion.fps, motion_path=_path(motion_arg))
    return BuildResult(armature=arm.name, mesh=mesh.name if mesh is not None else "", actions=tuple(actions),
                       frame_start=frame_start, frame_end=frame_end,
                       fps=scene_fps(scene) if set_scene else float(motion.fps), shape_keys=keys)
