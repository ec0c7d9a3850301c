"""Estimate several people and / or several calibrated views: one body per person ("Person 1", ...), sharing the
take's camera(s) and video plate(s)."""

from __future__ import annotations

import json
from pathlib import Path

import bpy

from ..core.jobs.body import ROLE_RIG, BuildBodyParams
from ..core.jobs.multi import EstimateMultiParams
from ..preferences import get_prefs
from .base import JobOperator, JobStep, UserError
from .body import body_params, model_poll, select_only, tag_built
from .targets import VideoRangeProperties, existing_path


def split_paths(text: str) -> list[str]:
    """Other views' videos typed as one string: separated by ';' (or new lines)."""
    return [p.strip() for p in text.replace("\n", ";").split(";") if p.strip()]


def parse_offsets(text: str, count: int) -> tuple[int, ...]:
    if not text.strip():
        return ()
    try:
        values = tuple(int(v) for v in text.replace(";", ",").split(","))
    except ValueError:
        raise UserError(f"Offsets {text!r}: whole numbers of frames separated by commas, one per video") from None
    if len(values) != count:
        raise UserError(f"Offsets {text!r}: {len(values)} values for {count} videos; give one per video")
    return values


def estimate_people_steps(context, video: str, start: int = 0, end: int = 0, stride: int = 1, prefix: str = "",
                          people: str = ""):
    """Job steps: estimate every person (``people`` "MAIN" / "ALL", default ``scene.smplpix.people``) of ``video`` (plus the other calibrated views
    when a calibration is set), build the rig once and one body per person. Returns the PeopleBuild."""
    from ..builders.people import build_people

    s = context.scene.smplpix
    prefs = get_prefs(context)
    videos = [existing_path(video, "video")] + [existing_path(v, "video") for v in split_paths(s.other_videos)]
    calibration = existing_path(s.calibration_path, "calibration") if s.calibration_path else None
    if len(videos) > 1 and calibration is None:
        raise UserError("Several videos need their calibration file (Calibration in the Estimate panel)")
    params = EstimateMultiParams(
        videos=tuple(videos), model=s.model, people="main" if (people or s.people) == "MAIN" else "all",
        model_dir=bpy.path.abspath(prefs.model_dir) if prefs.model_dir and s.model != "anny" else None,
        calibration=calibration, offsets=parse_offsets(s.video_offsets, len(videos)) if calibration else (),
        start=start, end=end or None, stride=stride).to_params()
    result = yield JobStep(EstimateMultiParams.KIND, params, f"{prefix}Estimate people in {Path(video).name}")
    index = result.files.get("index")
    if not index:
        raise UserError("the estimate job returned no people index; see the backend log")
    summary = json.loads(Path(index).read_text())
    motions = [str(Path(index).parent / p["file"]) for p in summary["people"]]
    from ..core.readers import read_motion

    first = read_motion(motions[0])
    rig_result = yield JobStep(BuildBodyParams.KIND, body_params(first.model, first.gender, prefs), f"{prefix}Body")
    rig = rig_result.files[ROLE_RIG]
    built = build_people(rig, motions, video=videos[0])
    for body, motion in zip(built.bodies, motions):
        tag_built(body, rig, s.model, motion_path=motion, video_path=videos[0])
    select_only(built.bodies[0].armature)
    return built


class SMPLPIX_OT_estimate_people(VideoRangeProperties, JobOperator, bpy.types.Operator):
    """Estimate every person of the video (or of the calibrated views) and build one animated body per person"""

    bl_idname = "smplpix.estimate_people"
    bl_label = "Estimate People"
    bl_options = {"REGISTER", "UNDO"}

    people: bpy.props.EnumProperty(name="People", default="ALL", items=(
        ("MAIN", "Main", "The main person only"), ("ALL", "All", "Every person large enough")))

    @classmethod
    def poll(cls, context):
        return model_poll(cls, context, (EstimateMultiParams.KIND,))

    def steps(self, context):
        video = self.filepath or context.scene.smplpix.video_path
        built = yield from estimate_people_steps(context, video, self.start, self.end, self.stride,
                                                 people=self.people)
        self.report({"INFO"}, f"Built {len(built.bodies)} people with {len(built.cameras)} camera(s)")


CLASSES = (SMPLPIX_OT_estimate_people,)
