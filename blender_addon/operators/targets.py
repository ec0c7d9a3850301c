"""What capture operators act on: the selected body's armature, checked input paths, model-folder parameters."""

from __future__ import annotations

from pathlib import Path

import bpy

from .base import UserError, backend_poll


def existing_path(path: str, what: str) -> str:
    path = bpy.path.abspath(path) if path else ""
    if not path or not Path(path).exists():
        raise UserError(f"{what} {path or '(none)'} does not exist; choose one in the SMPLpix sidebar")
    return path


def body_armature(context):
    """The active object's body armature (the active object, the body its mesh/camera belongs to, or its parent),
    or None; its record is ``body_record.record(arm)``."""
    from ..body_record import find_body

    return find_body(context.active_object)


def body_poll(cls, context, why: str, kind: str | None = None, needs: tuple[str, ...] = ()) -> bool:
    """Shared poll of the operators on the selected body: the backend can run job ``kind`` (when given) and a body
    is selected whose record has every field in ``needs`` set; explains itself with ``why`` otherwise."""
    if kind is not None and not backend_poll(cls, kind):
        return False
    arm = body_armature(context)
    if arm is None or not all(getattr(arm.smplpix, field) for field in needs):
        cls.poll_message_set(why)
        return False
    return True


def model_dir_param(prefs, params: dict, model: str | None = None) -> dict:
    if prefs.model_dir and model != "anny":
        params["model_dir"] = bpy.path.abspath(prefs.model_dir)
    return params


class VideoRangeProperties:
    """Operator properties of what an estimate reads: the video and its frame range (a mixin of the estimate
    operators; Blender collects annotated properties from mixins)."""

    filepath: bpy.props.StringProperty(name="Video", subtype="FILE_PATH",
                                       description="Video file (empty: the one set in the Estimate panel)")
    start: bpy.props.IntProperty(name="Start", min=0, default=0, description="First video frame (0-based)")
    end: bpy.props.IntProperty(name="End", min=0, default=0, description="Frame after the last one (0: to the end)")
    stride: bpy.props.IntProperty(name="Stride", min=1, default=1, description="Use every n-th frame")
