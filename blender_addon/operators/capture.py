"""Video capture and SMPLpix avatar operators: estimate motion from a video, train an avatar, render it."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..preferences import get_prefs, model_files_missing
from .base import JobOperator, JobStep, UserError, backend_poll
from .body import body_params, select_only, tag_built


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
        if not backend_poll(cls, "estimate"):
            return False
        s = context.scene.smplpix
        why = model_files_missing(s.model, get_prefs(context), s.gender)
        if why:
            cls.poll_message_set(why)
            return False
        return True

    def steps(self, context):
        from ..build.scene import build_motion

        s = context.scene.smplpix
        video = _existing(self.filepath or s.video_path, "video")
        prefs = get_prefs(context)
        params = {"input": video, "model": s.model, "start": self.start, "stride": self.stride}
        if self.end:
            params["end"] = self.end
        if prefs.model_dir and s.model != "anny":
            params["model_dir"] = bpy.path.abspath(prefs.model_dir)
        result = yield JobStep("estimate", params, f"Estimate {Path(video).name}")
        motion = result.files.get("motion")
        if not motion:
            raise UserError("the estimate job returned no motion file; see the backend log")
        rig = result.files.get("rig")
        if rig is None:
            from ..core.readers import read_motion

            m = read_motion(motion)
            rig_result = yield JobStep("build_body", body_params(m.model, m.gender, prefs), "Body for the video")
            rig = rig_result.files["rig"]
        built = build_motion(rig, motion, name=Path(video).stem, video=video)
        tag_built(built, rig, s.model, motion_path=motion, video_path=video)
        select_only(built.armature)
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
        arm = body_armature(context)
        s = context.scene.smplpix
        params = {"video": _existing(arm.smplpix.video_path, "video"),
                  "motion": _existing(arm.smplpix.motion_path, "motion file"),
                  "steps": int(s.avatar_steps), "size": int(s.avatar_size)}
        prefs = get_prefs(context)
        if prefs.model_dir:
            params["model_dir"] = bpy.path.abspath(prefs.model_dir)
        name = arm.name
        result = yield JobStep("train_avatar", params, f"Train avatar of {name}")
        arm = bpy.data.objects[name]
        arm.smplpix.avatar_path = result.files["checkpoint"]
        self.report({"INFO"}, f"Avatar trained: {result.files['checkpoint']}")


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
        import tempfile

        from ..build.writeback import export_motion

        arm = body_armature(context)
        name = arm.name
        motion = export_motion(arm, Path(tempfile.mkdtemp(prefix="smplpix-motion-")) / f"{name}.npz")
        params = {"checkpoint": _existing(arm.smplpix.avatar_path, "avatar checkpoint"), "motion": str(motion)}
        prefs = get_prefs(context)
        if prefs.model_dir:
            params["model_dir"] = bpy.path.abspath(prefs.model_dir)
        result = yield JobStep("render_avatar", params, f"Render avatar of {name}")
        frames = sorted(Path(result.files["frames"]).glob("*.png"))
        if not frames:
            raise UserError(f"the avatar render wrote no frames into {result.files['frames']}")
        image = bpy.data.images.load(str(frames[0]), check_existing=False)
        image.source = "SEQUENCE"
        image.name = f"{name}Avatar"
        self.report({"INFO"}, f"Rendered {len(frames)} frames into image sequence '{image.name}'")


CLASSES = (SMPLPIX_OT_estimate_video, SMPLPIX_OT_train_avatar, SMPLPIX_OT_render_avatar)
