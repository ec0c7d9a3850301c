"""Add-on data: one PointerProperty namespace per ID type.

- ``Object.smplpix`` (:class:`SMPLPIX_PG_object`): what a built object is and which files made it.
- ``Scene.smplpix`` (:class:`SMPLPIX_PG_scene`): settings of the next body / estimate / avatar / export.
- ``WindowManager.smplpix_jobs`` (:class:`SMPLPIX_PG_jobs`): transient job list for the Jobs panel (not saved).
"""

from __future__ import annotations

import bpy

from .core.export_presets import preset_items

MODEL_ITEMS = [
    ("anny", "Anny", "Open body model, built in; phenotype sliders, 52 facial expressions"),
    ("smplx", "SMPL-X", "Body, hands and face (needs the SMPL-X model files)"),
    ("smplh", "SMPL+H", "Body and hands (needs the SMPL+H model files)"),
    ("smpl", "SMPL", "Body only (needs the SMPL model files)"),
]
GENDER_ITEMS = [("neutral", "Neutral", ""), ("female", "Female", ""), ("male", "Male", "")]
ANNY_PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")


def _phenotype(name: str):
    return bpy.props.FloatProperty(name=name.capitalize(), min=0.0, max=1.0, default=0.5, subtype="FACTOR",
                                   description=f"Anny phenotype '{name}' of the next body (0..1)")


def _update_fast_playback(self, context) -> None:
    from .builders.shapekeys import set_correctives_muted

    if self.id_data.type == "MESH":
        set_correctives_muted(self.id_data, self.fast_playback)


class SMPLPIX_PG_object(bpy.types.PropertyGroup):
    role: bpy.props.EnumProperty(name="Role", items=[("NONE", "None", ""), ("ARMATURE", "Armature", ""),
                                                     ("MESH", "Mesh", ""), ("CAMERA", "Camera", "")])
    model: bpy.props.StringProperty(name="Body Model")
    rig_path: bpy.props.StringProperty(name="RigSpec", subtype="FILE_PATH", description="The body's RigSpec .npz")
    motion_path: bpy.props.StringProperty(name="Motion", subtype="FILE_PATH",
                                          description="The motion file this body was animated from")
    video_path: bpy.props.StringProperty(name="Video", subtype="FILE_PATH",
                                         description="The video this body was estimated from")
    avatar_path: bpy.props.StringProperty(name="Avatar", subtype="FILE_PATH",
                                          description="Trained SMPLpix avatar checkpoint of this person")
    fast_playback: bpy.props.BoolProperty(
        name="Fast Playback", default=False, update=_update_fast_playback,
        description="Mute the pose-corrective shape keys (their keyframes stay) for real-time viewport playback")


class SMPLPIX_PG_scene(bpy.types.PropertyGroup):
    # Body
    body_name: bpy.props.StringProperty(name="Name", default="Body")
    model: bpy.props.EnumProperty(name="Model", items=MODEL_ITEMS, default="anny")
    gender: bpy.props.EnumProperty(name="Gender", items=GENDER_ITEMS, default="neutral")
    pheno_gender: _phenotype("gender")
    pheno_age: _phenotype("age")
    pheno_muscle: _phenotype("muscle")
    pheno_weight: _phenotype("weight")
    pheno_height: _phenotype("height")
    pheno_proportions: _phenotype("proportions")
    motion_path: bpy.props.StringProperty(name="Motion", subtype="FILE_PATH",
                                          description="Motion file to import (.npz, AMASS .npz, .smpl, .pkl)")
    # Estimate
    video_path: bpy.props.StringProperty(name="Video", subtype="FILE_PATH", description="Video of one person")
    # Scan
    scan_path: bpy.props.StringProperty(name="Scan", subtype="FILE_PATH",
                                        description="Scan file (.ply .obj .stl .glb .gltf .off, .npz/.xyz points); "
                                                    "empty: Fit Body uses the selected mesh")
    scan_model: bpy.props.EnumProperty(name="Model", default="anny", items=[
        ("anny", "Anny", "Anny (embedded)"), ("smplx", "SMPL-X", ""), ("smplh", "SMPL+H", ""), ("smpl", "SMPL", ""),
        ("mano", "MANO (hand)", "A hand scan")])
    # Avatar
    avatar_steps: bpy.props.IntProperty(name="Steps", min=1, max=1_000_000, default=2000,
                                        description="Training steps of the SMPLpix avatar")
    avatar_size: bpy.props.IntProperty(name="Resolution", min=32, max=1024, step=16, default=128,
                                       description="Square training resolution in pixels (multiple of 16)")
    # Export
    export_preset: bpy.props.EnumProperty(name="Preset", items=preset_items())
    export_path: bpy.props.StringProperty(name="File", subtype="FILE_PATH", default="//body.fbx")

    def phenotype(self) -> dict[str, float]:
        return {name: float(getattr(self, f"pheno_{name}")) for name in ANNY_PHENOTYPES}


class SMPLPIX_PG_job(bpy.types.PropertyGroup):
    job_id: bpy.props.StringProperty()
    kind: bpy.props.StringProperty()
    label: bpy.props.StringProperty()
    state: bpy.props.StringProperty()
    stage: bpy.props.StringProperty()
    progress: bpy.props.FloatProperty(min=0.0, max=1.0, subtype="FACTOR")
    message: bpy.props.StringProperty()


class SMPLPIX_PG_jobs(bpy.types.PropertyGroup):
    jobs: bpy.props.CollectionProperty(type=SMPLPIX_PG_job)
    active_index: bpy.props.IntProperty()


CLASSES = (SMPLPIX_PG_object, SMPLPIX_PG_scene, SMPLPIX_PG_job, SMPLPIX_PG_jobs)
POINTERS = (
    (bpy.types.Object, "smplpix", SMPLPIX_PG_object),
    (bpy.types.Scene, "smplpix", SMPLPIX_PG_scene),
    (bpy.types.WindowManager, "smplpix_jobs", SMPLPIX_PG_jobs),
)


def register_pointers() -> None:
    for id_type, attr, group in POINTERS:
        setattr(id_type, attr, bpy.props.PointerProperty(type=group))


def unregister_pointers() -> None:
    for id_type, attr, _ in reversed(POINTERS):
        if hasattr(id_type, attr):
            delattr(id_type, attr)
