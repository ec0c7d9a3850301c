"""SMPLpix avatar operators: train a body's avatar from its video, render its current animation."""

from __future__ import annotations

from pathlib import Path

import bpy

from .. import body_record
from ..core.jobs.avatar import ROLE_CHECKPOINT, ROLE_FRAMES, RenderAvatarParams, TrainAvatarParams
from ..preferences import get_prefs
from .base import JobOperator, JobStep
from .targets import body_armature, body_poll, existing_path, model_dir_param


def train_steps(context, name: str, prefix: str = ""):
    """Job steps: train the avatar of armature ``name`` from its video and motion; returns the checkpoint path."""
    arm = bpy.data.objects[name]
    s = context.scene.smplpix
    params = TrainAvatarParams(
        video=existing_path(arm.smplpix.video_path, "video"),
        motion=existing_path(arm.smplpix.motion_path, "motion file"), steps=int(s.avatar_steps),
        size=int(s.avatar_size), model_dir=model_dir_param(get_prefs(context), {}, arm.smplpix.model).get("model_dir"),
    ).to_params()
    result = yield JobStep(TrainAvatarParams.KIND, params, f"{prefix}Train avatar of {name}")
    body_record.set_avatar(bpy.data.objects[name], result.files[ROLE_CHECKPOINT])
    return result.files[ROLE_CHECKPOINT]


def render_steps(context, name: str, prefix: str = ""):
    """Job steps: render armature ``name``'s current animation with its avatar as full-frame RGBA frames (the
    exported motion carries the body's camera, so the person lands where the body is in that camera) and load
    them as a frame-synced layer over the camera's video plate (viewport and compositor). Returns the image name."""
    import tempfile

    from ..builders.preview import load_preview
    from ..builders.writeback import export_motion

    arm = bpy.data.objects[name]
    motion = export_motion(arm, Path(tempfile.mkdtemp(prefix="smplpix-motion-")) / f"{name}.npz")
    params = RenderAvatarParams(
        checkpoint=existing_path(arm.smplpix.avatar_path, "avatar checkpoint"), motion=str(motion),
        model_dir=model_dir_param(get_prefs(context), {}, arm.smplpix.model).get("model_dir")).to_params()
    result = yield JobStep(RenderAvatarParams.KIND, params, f"{prefix}Render avatar of {name}")
    cam_ob = body_record.body_camera(bpy.data.objects[name])
    camera = cam_ob.name if cam_ob is not None else None
    return load_preview(result.files[ROLE_FRAMES], frame_start=context.scene.frame_start, camera=camera,
                        name=f"{name}Avatar")


class SMPLPIX_OT_train_avatar(JobOperator, bpy.types.Operator):
    """Train a SMPLpix neural avatar of the selected body's person from its video and fitted motion"""

    bl_idname = "smplpix.train_avatar"
    bl_label = "Train Avatar"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return body_poll(cls, context, "Select a body estimated from a video (it needs the video and its motion)",
                         TrainAvatarParams.KIND, ("video_path", "motion_path"))

    def steps(self, context):
        checkpoint = yield from train_steps(context, body_armature(context).name)
        self.report({"INFO"}, f"Avatar trained: {checkpoint}")


class SMPLPIX_OT_render_avatar(JobOperator, bpy.types.Operator):
    """Render the selected body's current animation with its SMPLpix avatar into an image sequence"""

    bl_idname = "smplpix.render_avatar"
    bl_label = "Render Avatar"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return body_poll(cls, context, "Select a body with a trained avatar (Avatar > Train Avatar)",
                         RenderAvatarParams.KIND, ("avatar_path",))

    def steps(self, context):
        image = yield from render_steps(context, body_armature(context).name)
        self.report({"INFO"}, f"Rendered the avatar into image sequence '{image}'")


CLASSES = (SMPLPIX_OT_train_avatar, SMPLPIX_OT_render_avatar)
