"""What capture operators act on: the selected body's armature, checked input paths, model-folder parameters."""

from __future__ import annotations

from pathlib import Path

import bpy

from .base import UserError


def existing_path(path: str, what: str) -> str:
    path = bpy.path.abspath(path) if path else ""
    if not path or not Path(path).exists():
        raise UserError(f"{what} {path or '(none)'} does not exist; choose one in the SMPLpix sidebar")
    return path


def body_armature(context):
    """The active object's body armature (the active object or its parent), or None."""
    ob = context.active_object
    if ob is not None and ob.type != "ARMATURE" and ob.parent is not None:
        ob = ob.parent
    return ob if ob is not None and ob.type == "ARMATURE" and ob.smplpix.role == "ARMATURE" else None


def model_dir_param(prefs, params: dict, model: str | None = None) -> dict:
    if prefs.model_dir and model != "anny":
        params["model_dir"] = bpy.path.abspath(prefs.model_dir)
    return params
