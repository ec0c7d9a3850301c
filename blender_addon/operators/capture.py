"""Video capture and SMPLpix avatar operators: estimate motion from a video, train an avatar, render it."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..preferences import get_prefs
from .base import JobOperator, JobStep, UserError, backend_poll
from .body import body_params, model_poll, select_only, tag_built


def _existing(path: str, what: str) -> str:
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


def _model_dir_param(prefs, params: dict, model: str | None = None) -> dict:
    if prefs.model_dir and model != "anny":
        params["model_dir"] = bpy.path.abspath(prefs.model_dir)
    return params


def estimate_steps(context, video: str, start: int = 0, end: int = 0, stride: int = 1, prefix: str = ""):
    """Job steps: estimate the motion of ``video``, (build the rig if needed) and build the animated body with its
    camera and video plate. Returns the :class:`~blender_addon.build.scene.BuildResult`."""
    from ..build.scene import build_motion

    s = context.scene.smplpix
    video = _existing(video, "video")
    prefs = get_prefs(context)
    params = _model_dir_param(prefs, {"input": video, "model": s.model, "start": start, "stride": stride}, s.model)
    if end:
        params["end"] = end
    result = yield JobStep("estimate", params, f"{prefix}Estimate {Path(video).name}")
    motion = result.files.get("motion")
    if not motion:
        raise UserError("the estimate job returned no motion file; see the backend log")
    rig = result.files.get("rig")
    if rig is None:
        from ..core.readers import read_motion

        m = read_motion(motion)
        rig_result = yield JobStep("build_body", body_params(m.model, m.gender, prefs), f"{prefix}Body for the video")
        rig = rig_result.files["rig"]
    built = build_motion(rig, motion, name=Path(video).stem, video=video)
    tag_built(built, rig, s.model, motion_path=motion, video_path=video)
    select_only(built.armature)
    return built


def train_steps(context, name: str, prefix: str = ""):
    """Job steps: train the avatar of armature ``name`` from its video and motion; returns the checkpoint path."""
    arm = bpy.data.objects[name]
    s = context.scene.smplpix
    params = _model_dir_param(get_prefs(context), {
        "video": _existing(arm.smplpix.video_path, "video"),
        "motion": _existing(arm.smplpix.motion_path, "motion file"),
        "steps": int(s.avatar_steps), "size": int(s.avatar_size)}, arm.smplpix.model)
    result = yield JobStep("train_avatar", params, f"{prefix}Train avatar of {name}")
    arm = bpy.data.objects[name]
    arm.smplpix.avatar_path = result.files["checkpoint"]
    return result.files["checkpoint"]


def render_steps(context, name: str, prefix: str = ""):
    """Job steps: render armature ``name``'s current animation with its avatar and load the frames as a
    frame-synced image sequence (on the body's camera background when it has one). Returns the image name."""
    import tempfile

    from ..build.preview import load_preview
    from ..build.writeback import export_motion

    arm = bpy.data.objects[name]
    motion = export_motion(arm, Path(tempfile.mkdtemp(prefix="smplpix-motion-")) / f"{name}.npz")
    params = _model_dir_param(get_prefs(context), {
        "checkpoint": _existing(arm.smplpix.avatar_path, "avatar checkpoint"), "motion": str(motion)},
        arm.smplpix.model)
    result = yield JobStep("render_avatar", params, f"{prefix}Render avatar of {name}")
    camera = next((ob.name for ob in bpy.data.objects if ob.type == "CAMERA" and ob.smplpix.role == "CAMERA"
                   and ob.smplpix.video_path == bpy.data.objects[name].smplpix.video_path), None)
    return load_preview(result.files["frames"], frame_start=context.scene.frame_start, camera=camera,
                        name=f"{name}Avatar")


class SMPLPIX_OT_estimate_video(JobOperator, bpy.types.Operator):
    """Estimate the person's body and motion from the video and build it as an animated body with its camera"""

    bl_idname = "smplpix.estimate_video"
    bl_label = "Estimate from Video"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(name="Video", subtype="FILE_PATH",
                                       description="Video file (empty: the one set in the Estimate panel)")
    start: bpy.props.IntProperty(name="Start", min=0, default=0, description="First video frame (0-based)")
    end: bpy.props.IntProperty(name="End", min=0, default=0, description="Frame after the last one (0: to the end)")
    stride: bpy.props.IntProperty(name="Stride", min=1, default=1, description="Use every n-th frame")

    @classmethod
    def poll(cls, context):
        return model_poll(cls, context, ("estimate",))

    def steps(self, context):
        video = self.filepath or context.scene.smplpix.video_path
        built = yield from estimate_steps(context, video, self.start, self.end, self.stride)
        self.report({"INFO"}, f"Estimated {built.frame_end - built.frame_start + 1} frames from {Path(video).name}")


class SMPLPIX_OT_train_avatar(JobOperator, bpy.types.Operator):
    """Train a SMPLpix neural avatar of the selected body's person from its video and fitted motion"""

    bl_idname = "smplpix.train_avatar"
    bl_label = "Train Avatar"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not backend_poll(cls, "train_avatar"):
            return False
        arm = body_armature(context)
        if arm is None or not arm.smplpix.video_path or not arm.smplpix.motion_path:
            cls.poll_message_set("Select a body estimated from a video (it needs the video and its motion)")
            return False
        return True

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
        if not backend_poll(cls, "render_avatar"):
            return False
        arm = body_armature(context)
        if arm is None or not arm.smplpix.avatar_path:
            cls.poll_message_set("Select a body with a trained avatar (Avatar > Train Avatar)")
            return False
        return True

    def steps(self, context):
        image = yield from render_steps(context, body_armature(context).name)
        self.report({"INFO"}, f"Rendered the avatar into image sequence '{image}'")


class SMPLPIX_OT_video_to_avatar(JobOperator, bpy.types.Operator):
    """The whole job in one click: estimate the video, build the animated body, train its avatar and render a
    preview (one progress view; Esc cancels the step that runs; the scene changes in one undo step)"""

    bl_idname = "smplpix.video_to_avatar"
    bl_label = "Video to Avatar"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(name="Video", subtype="FILE_PATH",
                                       description="Video file (empty: the one set in the Estimate panel)")
    train: bpy.props.BoolProperty(name="Train Avatar", default=True,
                                  description="Also train the SMPLpix avatar and render a preview")
    start: bpy.props.IntProperty(name="Start", min=0, default=0, description="First video frame (0-based)")
    end: bpy.props.IntProperty(name="End", min=0, default=0, description="Frame after the last one (0: to the end)")
    stride: bpy.props.IntProperty(name="Stride", min=1, default=1, description="Use every n-th frame")

    @classmethod
    def poll(cls, context):
        return model_poll(cls, context, ("estimate", "train_avatar", "render_avatar"))

    def steps(self, context):
        video = self.filepath or context.scene.smplpix.video_path
        total = 3 if self.train else 1
        built = yield from estimate_steps(context, video, self.start, self.end, self.stride, prefix=f"[1/{total}] ")
        if self.train:
            yield from train_steps(context, built.armature, prefix=f"[2/{total}] ")
            image = yield from render_steps(context, built.armature, prefix=f"[3/{total}] ")
            self.report({"INFO"}, f"{Path(video).name}: body, avatar and preview '{image}' ready")
        else:
            self.report({"INFO"}, f"{Path(video).name}: animated body ready")


CLASSES = (SMPLPIX_OT_estimate_video, SMPLPIX_OT_train_avatar, SMPLPIX_OT_render_avatar, SMPLPIX_OT_video_to_avatar)
