"""Estimate operator: a video becomes an animated body with its camera and video plate."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..core.jobs.body import BuildBodyParams
from ..core.jobs.estimate import ROLE_MOTION, ROLE_RIG, EstimateParams
from ..preferences import get_prefs
from .base import JobOperator, JobStep, UserError
from .body import body_params, model_poll, select_only, tag_built
from .targets import VideoRangeProperties, existing_path, model_dir_param


def estimate_steps(context, video: str, start: int = 0, end: int = 0, stride: int = 1, prefix: str = "",
                   subject: str = "body"):
    """Job steps: estimate the motion of ``video``, (build the rig if needed) and build the animated body with its
    camera and video plate; ``subject`` "face": a face close-up (head pose and facial actions, for a face avatar).
    Returns the :class:`~blender_addon.builders.scene.BuildResult`."""
    from ..builders.scene import build_motion

    s = context.scene.smplpix
    video = existing_path(video, "video")
    prefs = get_prefs(context)
    params = EstimateParams(input=video, model=s.model, start=start, end=end or None, stride=stride,
                            model_dir=model_dir_param(prefs, {}, s.model).get("model_dir"),
                            subject=subject).to_params()
    result = yield JobStep(EstimateParams.KIND, params, f"{prefix}Estimate {Path(video).name}")
    motion = result.files.get(ROLE_MOTION)
    if not motion:
        raise UserError("the estimate job returned no motion file; see the backend log")
    rig = result.files.get(ROLE_RIG)
    if rig is None:  # an older backend: ask for the rig separately
        from ..core.readers import read_motion

        m = read_motion(motion)
        rig_result = yield JobStep(BuildBodyParams.KIND, body_params(m.model, m.gender, prefs),
                                   f"{prefix}Body for the video")
        rig = rig_result.files[ROLE_RIG]
    built = build_motion(rig, motion, name=Path(video).stem, video=video)
    tag_built(built, rig, s.model, motion_path=motion, video_path=video)
    select_only(built.armature)
    return built


class SMPLPIX_OT_estimate_video(VideoRangeProperties, JobOperator, bpy.types.Operator):
    """Estimate the person's body and motion from the video and build it as an animated body with its camera"""

    bl_idname = "smplpix.estimate_video"
    bl_label = "Estimate from Video"
    bl_options = {"REGISTER", "UNDO"}

    subject: bpy.props.EnumProperty(
        name="Subject", default="BODY",
        items=(("BODY", "Body", "The whole person"),
               ("FACE", "Face", "A face close-up: head pose and facial actions (Anny or FLAME), for a face avatar")))

    @classmethod
    def poll(cls, context):
        return model_poll(cls, context, ("estimate",))

    def steps(self, context):
        s = context.scene.smplpix
        video = self.filepath or s.video_path
        if s.people == "ALL" or s.calibration_path:  # several people and / or calibrated views
            from .estimate_multi import estimate_people_steps

            built = yield from estimate_people_steps(context, video, self.start, self.end, self.stride)
            self.report({"INFO"}, f"Built {len(built.bodies)} people with {len(built.cameras)} camera(s)")
            return
        built = yield from estimate_steps(context, video, self.start, self.end, self.stride,
                                          subject=self.subject.lower())
        self.report({"INFO"}, f"Estimated {built.frame_end - built.frame_start + 1} frames from {Path(video).name}")


CLASSES = (SMPLPIX_OT_estimate_video,)
