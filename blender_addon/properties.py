"""Add-on data: one PointerProperty namespace per ID type.

- ``Object.smplpix`` (:class:`~blender_addon.body_record.SMPLPIX_PG_object`): the versioned body record
  (``body_record.py``).
- ``Scene.smplpix`` (:class:`SMPLPIX_PG_scene`): settings of the next body / estimate / avatar / export.
- ``WindowManager.smplpix_jobs`` (:class:`SMPLPIX_PG_jobs`): transient job list for the Jobs panel (not saved).
"""

from __future__ import annotations

import bpy

from .body_record import CLASSES as RECORD_CLASSES
from .body_record import SMPLPIX_PG_object
from .core.export_presets import preset_items
from .core.names import ANNY_PHENOTYPES, BODY_MODELS, GENDERS, SCAN_MODELS

_MODEL_LABELS = {
    "anny": ("Anny", "Open body model, built in; phenotype sliders, 52 facial expressions"),
    "smplx": ("SMPL-X", "Body, hands and face (needs the SMPL-X model files)"),
    "smplh": ("SMPL+H", "Body and hands (needs the SMPL+H model files)"),
    "smpl": ("SMPL", "Body only (needs the SMPL model files)"),
    "mano": ("MANO (hand)", "A hand scan (needs the MANO model files)"),
}
MODEL_ITEMS = [(name, *_MODEL_LABELS[name]) for name in BODY_MODELS]
SCAN_MODEL_ITEMS = [(name, *_MODEL_LABELS[name]) for name in SCAN_MODELS]
GENDER_ITEMS = [(name, name.capitalize(), "") for name in GENDERS]


def _phenotype(name: str):
    return bpy.props.FloatProperty(name=name.capitalize(), min=0.0, max=1.0, default=0.5, subtype="FACTOR",
                                   description=f"Anny phenotype '{name}' of the next body (0..1)")


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
    people: bpy.props.EnumProperty(name="People", default="MAIN", items=(
        ("MAIN", "Main", "The main person only"),
        ("ALL", "All", "Every person large enough: one body each (Person 1, Person 2, ...)")))
    calibration_path: bpy.props.StringProperty(
        name="Calibration", subtype="FILE_PATH",
        description="Multi-camera: calibration of the video and the other views (Qualisys .qca.txt, Pose2Sim .toml)")
    other_videos: bpy.props.StringProperty(
        name="Other Views", description="Multi-camera: the other views' videos, in the calibration's camera order, "
                                        "separated by ';' (assumed synchronized frame by frame)")
    video_offsets: bpy.props.StringProperty(
        name="Offsets", description="Multi-camera: per video, the frame that is the take's frame 0 (e.g. 0,3,-1)")
    # Scan
    scan_path: bpy.props.StringProperty(name="Scan", subtype="FILE_PATH",
                                        description="Scan file (.ply .obj .stl .glb .gltf .off, .npz/.xyz points); "
                                                    "empty: Fit Body uses the selected mesh")
    scan_model: bpy.props.EnumProperty(name="Model", default="anny", items=SCAN_MODEL_ITEMS)
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


CLASSES = (*RECORD_CLASSES, SMPLPIX_PG_scene, SMPLPIX_PG_job, SMPLPIX_PG_jobs)
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
