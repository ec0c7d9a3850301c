"""The one record of what a built body is: ``Object.smplpix`` (:class:`SMPLPIX_PG_object`), versioned.

On the armature (``role == "ARMATURE"``) it holds the body model, gender, world axes, fps, betas, joint names,
shape-key groups, links to the mesh and camera (``PointerProperty(type=Object)``: a rename does not break them)
and the rig/motion/video/avatar paths; the mesh and camera carry ``role`` and a ``body`` link back. The builders
write it (:func:`write_build`); everything else reads it through :func:`record` / :func:`find_body` and the small
accessors below. Older files (``smplpix_*`` JSON custom properties linked by object name, record version 0) are
migrated by :func:`migrate_file` (a ``load_post`` handler) and on access.
"""

from __future__ import annotations

import json

import bpy
from bpy.app.handlers import persistent

RECORD_VERSION = 2  # 1: Object.smplpix paths + smplpix_* custom properties; 2: this record
LEGACY_PREFIX = "smplpix_"  # custom properties of record version 1 (and the builders before it)
_LEGACY_ARMATURE_KEYS = ("model", "gender", "axes", "betas", "mesh", "joint_names", "root_expr_dirs", "fps",
                         "camera")
SHAPE_GROUPS = ("shape", "expression", "pose")


def _addon_version() -> str:
    from .core import ADDON_VERSION

    return ADDON_VERSION


def _update_fast_playback(self, context) -> None:
    from .builders.common import mute_shape_keys

    if self.id_data.type == "MESH":
        mute_shape_keys(self.id_data, shape_key_names(self.id_data, "pose"), self.fast_playback)


class SMPLPIX_PG_name(bpy.types.PropertyGroup):
    """One name (``name`` is PropertyGroup's own string)."""


class SMPLPIX_PG_value(bpy.types.PropertyGroup):
    value: bpy.props.FloatProperty()


class SMPLPIX_PG_shape_group(bpy.types.PropertyGroup):
    """A shape-key group (``name``: shape / expression / pose) and its key names on the body's mesh."""

    keys: bpy.props.CollectionProperty(type=SMPLPIX_PG_name)


class SMPLPIX_PG_object(bpy.types.PropertyGroup):
    role: bpy.props.EnumProperty(name="Role", items=[("NONE", "None", ""), ("ARMATURE", "Armature", ""),
                                                     ("MESH", "Mesh", ""), ("CAMERA", "Camera", "")])
    record_version: bpy.props.IntProperty(name="Record Version", default=0,
                                          description="Version of this record (0: not written by SMPLpix)")
    addon_version: bpy.props.StringProperty(name="Add-on Version", description="The add-on that wrote the record")
    model: bpy.props.StringProperty(name="Body Model")
    gender: bpy.props.StringProperty(name="Gender", default="neutral")
    axes: bpy.props.StringProperty(name="World Axes", default="Y",
                                   description="The motion's world axes: Y or Z up, or opencv (camera axes)")
    fps: bpy.props.FloatProperty(name="Frame Rate", default=0.0, min=0.0,
                                 description="Frames per second of the motion the body was animated with (0: none)")
    betas: bpy.props.CollectionProperty(type=SMPLPIX_PG_value)
    joint_names: bpy.props.CollectionProperty(type=SMPLPIX_PG_name)
    root_expr_dirs: bpy.props.CollectionProperty(type=SMPLPIX_PG_value)  # (E, 3) flattened, metres
    shape_keys: bpy.props.CollectionProperty(type=SMPLPIX_PG_shape_group)
    mesh: bpy.props.PointerProperty(type=bpy.types.Object, name="Mesh")
    camera: bpy.props.PointerProperty(type=bpy.types.Object, name="Camera")
    image_size: bpy.props.IntVectorProperty(name="Image Size", size=2, min=0,
                                            description="Camera: width, height in pixels of the source frames")
    body: bpy.props.PointerProperty(type=bpy.types.Object, name="Body",
                                    description="The armature whose record this mesh/camera belongs to")
    rig_path: bpy.props.StringProperty(name="RigSpec", subtype="FILE_PATH", description="The body's RigSpec .npz")
    motion_path: bpy.props.StringProperty(name="Motion", subtype="FILE_PATH",
                                          description="The motion file this body was animated from")
    video_path: bpy.props.StringProperty(name="Video", subtype="FILE_PATH",
                                         description="The video this body was estimated from")
    avatar_path: bpy.props.StringProperty(name="Avatar", subtype="FILE_PATH",
                                          description="Trained SMPLpix avatar checkpoint of this person")
    scan: bpy.props.PointerProperty(type=bpy.types.Object, name="Scan",
                                    description="The scan mesh this body was fitted to (Scan > Fit Body)")
    scan_path: bpy.props.StringProperty(name="Scan File", subtype="FILE_PATH",
                                        description="The scan file this body was fitted to")
    scan_fit_path: bpy.props.StringProperty(name="Scan Fit", subtype="FILE_PATH",
                                            description="The one-frame fit motion of the scan")
    scan_axes: bpy.props.StringProperty(name="Scan Axes", description="Up axis of the scan's fit")
    fast_playback: bpy.props.BoolProperty(
        name="Fast Playback", default=False, update=_update_fast_playback,
        description="Mute the pose-corrective shape keys (their keyframes stay) for real-time viewport playback")


CLASSES = (SMPLPIX_PG_name, SMPLPIX_PG_value, SMPLPIX_PG_shape_group, SMPLPIX_PG_object)


def ensure_registered() -> None:
    """Register the record's classes and ``Object.smplpix`` if the add-on is not enabled (the builders run from
    plain ``bpy`` scripts too); the add-on's register() then skips them and its unregister() removes them."""
    if getattr(bpy.types.Object, "smplpix", None) is not None and SMPLPIX_PG_object.is_registered:
        return
    for cls in CLASSES:
        if not cls.is_registered:
            bpy.utils.register_class(cls)
    bpy.types.Object.smplpix = bpy.props.PointerProperty(type=SMPLPIX_PG_object)


# -- writing -------------------------------------------------------------------------------------------------------

def _fill_names(coll, names) -> None:
    coll.clear()
    for n in names:
        coll.add().name = str(n)


def _fill_values(coll, values) -> None:
    coll.clear()
    for v in values:
        coll.add().value = float(v)


def write_build(arm: bpy.types.Object, mesh: bpy.types.Object, *, model: str, gender: str, axes: str, betas,
                joint_names, shape_keys: dict, root_expr_dirs=(), camera: bpy.types.Object | None = None,
                fps: float = 0.0, rig_path: str = "", motion_path: str = "", video_path: str = "") -> None:
    """Write the record of a freshly built body on ``arm`` and the back-links on ``mesh`` / ``camera``.

    betas (S,), joint_names (J,), shape_keys {group: [key names]}, root_expr_dirs (E, 3) metres (flattened)."""
    ensure_registered()
    r = arm.smplpix
    r.role, r.model, r.gender, r.axes = "ARMATURE", model, gender, axes
    _fill_values(r.betas, betas)
    _fill_names(r.joint_names, joint_names)
    _fill_values(r.root_expr_dirs, [float(x) for row in root_expr_dirs for x in row])
    r.shape_keys.clear()
    for group in SHAPE_GROUPS:
        g = r.shape_keys.add()
        g.name = group
        _fill_names(g.keys, shape_keys.get(group, []))
    r.mesh = mesh
    mesh.smplpix.role, mesh.smplpix.body, mesh.smplpix.model = "MESH", arm, model
    set_animation(arm, fps=fps, camera=camera, motion_path=motion_path, video_path=video_path)
    if rig_path:
        r.rig_path = str(rig_path)
    r.record_version, r.addon_version = RECORD_VERSION, _addon_version()


def set_animation(arm: bpy.types.Object, fps: float = 0.0, camera: bpy.types.Object | None = None,
                  motion_path: str = "", video_path: str = "") -> None:
    """Record what animates the body: its fps, camera (linked back to it) and motion/video files (empty: keep)."""
    r = arm.smplpix
    if fps:
        r.fps = float(fps)
    if camera is not None:
        r.camera = camera
        camera.smplpix.role, camera.smplpix.body, camera.smplpix.model = "CAMERA", arm, r.model
    for attr, value in (("motion_path", motion_path), ("video_path", video_path)):
        if value:
            setattr(r, attr, str(value))
            for ob in (r.mesh, r.camera):
                if ob is not None:
                    setattr(ob.smplpix, attr, str(value))


def set_avatar(arm: bpy.types.Object, checkpoint: str) -> None:
    """Record the body's trained SMPLpix avatar checkpoint."""
    record(arm).avatar_path = str(checkpoint)


# -- reading -------------------------------------------------------------------------------------------------------

def record(ob: bpy.types.Object):
    """The body record of armature ``ob`` (migrated first if the file is older)."""
    ensure_registered()
    if ob.smplpix.record_version < RECORD_VERSION and _is_legacy(ob):
        try:
            migrate_object(ob)
        except AttributeError:  # ID data is read-only here (a panel's draw); the load_post handler migrates
            pass
    return ob.smplpix


def find_body(ob: bpy.types.Object | None) -> bpy.types.Object | None:
    """The built body's armature for ``ob`` (the armature itself, its mesh or camera, or a child), or None."""
    if ob is None:
        return None
    ensure_registered()
    candidates = [ob, ob.smplpix.body, ob.parent]
    for cand in candidates:
        if cand is not None and cand.type == "ARMATURE" and record(cand).role == "ARMATURE":
            return cand
    return None


def body_mesh(arm: bpy.types.Object) -> bpy.types.Object | None:
    r = record(arm)
    return r.mesh or next((c for c in arm.children if c.type == "MESH"), None)


def camera_image_size(cam_ob: bpy.types.Object) -> tuple[int, int] | None:
    """(width, height) pixels of the source frames of a built camera, or None if unknown."""
    size = tuple(int(v) for v in cam_ob.smplpix.image_size) if hasattr(cam_ob, "smplpix") else (0, 0)
    if not all(size):
        legacy = cam_ob.get(LEGACY_PREFIX + "image_size")
        size = tuple(int(v) for v in legacy) if legacy is not None else (0, 0)
    return size if all(size) else None


def body_camera(arm: bpy.types.Object) -> bpy.types.Object | None:
    cam = record(arm).camera
    return cam if cam is not None and cam.type == "CAMERA" else None


def joint_names(arm: bpy.types.Object) -> tuple[str, ...] | None:
    names = tuple(item.name for item in record(arm).joint_names)
    return names or None


def betas(arm: bpy.types.Object) -> list[float]:
    return [item.value for item in record(arm).betas]


def root_expr_dirs(arm: bpy.types.Object) -> list[float]:
    """Flattened (E, 3) root-joint offsets per expression coefficient, metres (empty: expressions move no joint)."""
    return [item.value for item in record(arm).root_expr_dirs]


def shape_key_names(ob: bpy.types.Object, group: str) -> list[str]:
    """Key names of shape-key ``group`` (shape / expression / pose) of the body ``ob`` (its armature or mesh)."""
    arm = find_body(ob)
    if arm is None:
        return _legacy_json(ob, "shape_keys", {}).get(group, [])
    g = record(arm).shape_keys.get(group)
    return [k.name for k in g.keys] if g is not None else []


# -- migration -----------------------------------------------------------------------------------------------------

def _is_legacy(ob: bpy.types.Object) -> bool:
    return ob.type == "ARMATURE" and (LEGACY_PREFIX + "joint_names") in ob.keys()


def _legacy_json(ob, key: str, default):
    try:
        return json.loads(ob.get(LEGACY_PREFIX + key, "null")) or default
    except (TypeError, ValueError):
        return default


def migrate_object(arm: bpy.types.Object) -> bool:
    """Turn an armature of an older file (``smplpix_*`` custom properties, objects linked by name) into a record of
    this version; the old properties are removed. Returns whether anything was migrated."""
    if not _is_legacy(arm):
        return False
    old = arm.smplpix  # record version 1 kept role/model/paths here under the same names
    mesh = bpy.data.objects.get(str(arm.get(LEGACY_PREFIX + "mesh", "")))
    if mesh is None:
        mesh = next((c for c in arm.children if c.type == "MESH"), None)
    camera = bpy.data.objects.get(str(arm.get(LEGACY_PREFIX + "camera", "")))
    keys = _legacy_json(mesh, "shape_keys", {}) if mesh is not None else {}
    dirs = _legacy_json(arm, "root_expr_dirs", [])
    paths = {k: getattr(old, k) or (getattr(mesh.smplpix, k) if mesh is not None else "")
             for k in ("rig_path", "motion_path", "video_path", "avatar_path")}
    values = dict(model=str(arm.get(LEGACY_PREFIX + "model", old.model or "unknown")),
                  gender=str(arm.get(LEGACY_PREFIX + "gender", "neutral")),
                  axes=str(arm.get(LEGACY_PREFIX + "axes", "Y")), betas=_legacy_json(arm, "betas", []),
                  joint_names=_legacy_json(arm, "joint_names", []), shape_keys=keys,
                  root_expr_dirs=[d if isinstance(d, list) else [d] for d in dirs],
                  fps=float(arm.get(LEGACY_PREFIX + "fps", 0.0)))
    if mesh is None:  # a record needs its mesh; keep the old properties readable
        return False
    write_build(arm, mesh, camera=camera if camera is not None and camera.type == "CAMERA" else None,
                rig_path=paths["rig_path"], motion_path=paths["motion_path"], video_path=paths["video_path"],
                **values)
    if paths["avatar_path"]:
        arm.smplpix.avatar_path = paths["avatar_path"]
    for key in _LEGACY_ARMATURE_KEYS:
        arm.pop(LEGACY_PREFIX + key, None)
    mesh.pop(LEGACY_PREFIX + "shape_keys", None)
    if camera is not None and (LEGACY_PREFIX + "image_size") in camera.keys():
        camera.smplpix.image_size = [int(v) for v in camera[LEGACY_PREFIX + "image_size"]]
        del camera[LEGACY_PREFIX + "image_size"]
    return True


@persistent
def migrate_file(*_args) -> int:
    """``load_post`` handler: migrate every body of the opened file. Returns how many were migrated."""
    ensure_registered()
    return sum(migrate_object(ob) for ob in bpy.data.objects if _is_legacy(ob))


def register_handlers() -> None:
    if migrate_file not in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.append(migrate_file)


def unregister_handlers() -> None:
    while migrate_file in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(migrate_file)
