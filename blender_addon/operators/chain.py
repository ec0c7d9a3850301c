"""Video to Avatar: estimate, build, train and preview chained in one operator, one progress view, one undo step."""

from __future__ import annotations

from pathlib import Path

import bpy

from .avatar import render_steps, train_steps
from .base import JobOperator
from .body import model_poll
from .estimate import estimate_steps
from .targets import VideoRangeProperties


class SMPLPIX_OT_video_to_avatar(VideoRangeProperties, JobOperator, bpy.types.Operator):
    """The whole job in one click: estimate the video, build the animated body, train its avatar and render a
    preview (one progress view; Esc cancels the step that runs; the scene changes in one undo step)"""

    bl_idname = "smplpix.video_to_avatar"
    bl_label = "Video to Avatar"
    bl_options = {"REGISTER", "UNDO"}

    train: bpy.props.BoolProperty(name="Train Avatar", default=True,
                                  description="Also train the SMPLpix avatar and render a preview")

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


CLASSES = (SMPLPIX_OT_video_to_avatar,)
