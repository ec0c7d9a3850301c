"""Body operators: add a rest-pose body, import a motion file as an animated body."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..core.jobs.body import ROLE_RIG, BuildBodyParams
from ..preferences import get_prefs, model_files_missing
from .base import JobOperator, JobStep, UserError, backend_poll


def body_params(model: str, gender: str, prefs, phenotype: dict | None = None, betas=None) -> dict:
    """JSON params of a ``build_body`` job (its contract, :class:`~blender_addon.core.jobs.body.BuildBodyParams`)."""
    return BuildBodyParams(
        model=model, gender=gender,
        model_dir=bpy.path.abspath(prefs.model_dir) if prefs.model_dir and model != "anny" else None,
        betas=tuple(float(b) for b in betas) if betas is not None and len(betas) else (),
        phenotype={k: float(v) for k, v in phenotype.items()} if phenotype and model == "anny" else None,
    ).to_params()


def tag_built(result, rig_path: str, model: str, motion_path: str = "", video_path: str = "") -> None:
    """Add to the body record of a built body (``result``: a BuildResult) what made it: the rig, model, motion and
    video files (the builders write the rest; see ``body_record.py``)."""
    from .. import body_record

    arm = bpy.data.objects.get(result.armature) if result.armature else None
    if arm is None:
        return
    rec = body_record.record(arm)
    rec.role, rec.model, rec.rig_path = "ARMATURE", model, rig_path
    mesh = bpy.data.objects.get(result.mesh) if result.mesh else None
    if rec.mesh is None and mesh is not None:
        rec.mesh = mesh
    if rec.mesh is not None:
        rec.mesh.smplpix.role, rec.mesh.smplpix.body = "MESH", arm
    camera = bpy.data.objects.get(result.camera) if result.camera else None
    body_record.set_animation(arm, camera=camera, motion_path=motion_path, video_path=video_path)


def select_only(name: str) -> None:
    ob = bpy.data.objects.get(name)
    view_layer = bpy.context.view_layer
    view_layer.update()
    if ob is None or view_layer.objects.get(name) is None:
        return
    for other in view_layer.objects:
        other.select_set(False)
    ob.select_set(True)
    view_layer.objects.active = ob


def model_poll(cls, context, kinds: tuple[str, ...]) -> bool:
    """Shared poll: the backend can run every job kind in ``kinds`` and the scene's body model has its files;
    explains itself otherwise."""
    if not all(backend_poll(cls, kind) for kind in kinds):
        return False
    s = context.scene.smplpix
    why = model_files_missing(s.model, get_prefs(context), s.gender)
    if why:
        cls.poll_message_set(why)
        return False
    return True


class SMPLPIX_OT_add_body(JobOperator, bpy.types.Operator):
    """Add a rigged, shape-keyed body of the chosen model and shape to the scene"""

    bl_idname = "smplpix.add_body"
    bl_label = "Add Body"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return model_poll(cls, context, ("build_body",))

    def steps(self, context):
        from ..builders.scene import build_body

        s = context.scene.smplpix
        params = body_params(s.model, s.gender, get_prefs(context), phenotype=s.phenotype())
        result = yield JobStep(BuildBodyParams.KIND, params, f"Build {s.model} body")
        rig = result.files[ROLE_RIG]
        built = build_body(rig, name=s.body_name or "Body")
        tag_built(built, rig, s.model)
        select_only(built.armature)
        self.report({"INFO"}, f"Added {built.armature} ({s.model})")


class SMPLPIX_OT_import_motion(JobOperator, bpy.types.Operator):
    """Import a motion file (.npz project motion or AMASS, .smpl, SMPLify-X .pkl) as an animated body"""

    bl_idname = "smplpix.import_motion"
    bl_label = "Import Motion"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(name="Motion File", subtype="FILE_PATH",
                                       description="Motion file (empty: the one set in the Body panel)")
    name: bpy.props.StringProperty(name="Name", default="")

    @classmethod
    def poll(cls, context):
        return backend_poll(cls, "build_body")

    def steps(self, context):
        from ..builders.scene import build_motion
        from ..core.readers import read_motion

        path = bpy.path.abspath(self.filepath or context.scene.smplpix.motion_path)
        if not path or not Path(path).is_file():
            raise UserError(f"motion file {path or '(none)'} does not exist; choose a motion file")
        motion = read_motion(path)
        phenotype = motion.metadata.get("phenotype") if isinstance(motion.metadata.get("phenotype"), dict) else None
        why = model_files_missing(motion.model, get_prefs(context), motion.gender)
        if why:
            raise UserError(f"{Path(path).name}: {why}")
        params = body_params(motion.model, motion.gender, get_prefs(context), phenotype=phenotype)
        result = yield JobStep(BuildBodyParams.KIND, params, f"Body for {Path(path).name}")
        rig = result.files[ROLE_RIG]
        built = build_motion(rig, motion, name=self.name or Path(path).stem)
        tag_built(built, rig, motion.model, motion_path=path)
        select_only(built.armature)
        self.report({"INFO"}, f"Imported {Path(path).name}: {built.frame_end - built.frame_start + 1} frames")


CLASSES = (SMPLPIX_OT_add_body, SMPLPIX_OT_import_motion)
