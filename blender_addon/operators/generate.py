"""Generate operators: *Random Humans* (a row of animated random bodies), *Interpolate* (a body morphing from one
selected human into another while it moves) and *Re-roll* (draw one factor of the selected human again).

Each runs one backend job (contracts in :mod:`blender_addon.core.jobs.generate`) and builds the results with
:mod:`blender_addon.builders.scene` in one undo step; a generated armature keeps the path of its human record
(``human_NNN.json``) in the custom property ``smplpix_generate_record``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import bpy

from ..core.jobs.generate import (
    FACTORS,
    GenerateInterpolateParams,
    GenerateRandomParams,
    GenerateRerollParams,
)
from .base import JobOperator, JobStep, UserError, backend_poll
from .body import select_only, tag_built
from .targets import body_armature

RECORD_PROP = "smplpix_generate_record"
FACTOR_ITEMS = [(f, f.capitalize(), f"Draw the {f} factor again, keep the others") for f in FACTORS]


class SMPLPIX_PG_generate(bpy.types.PropertyGroup):
    """Settings of the next random batch (``WindowManager.smplpix_generate``, not saved with the file)."""

    count: bpy.props.IntProperty(name="Count", default=4, min=1, max=64, description="How many humans")
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0, description="Same seed, same humans")
    age_min: bpy.props.FloatProperty(name="Age Min", default=18.0, min=1.0, max=90.0, description="Years")
    age_max: bpy.props.FloatProperty(name="Age Max", default=70.0, min=1.0, max=90.0, description="Years")
    frames: bpy.props.IntProperty(name="Frames", default=60, min=1, max=100000)
    spacing: bpy.props.FloatProperty(name="Spacing", default=1.0, min=0.0, unit="LENGTH",
                                     description="Distance between the bodies of a row")
    fix_shape: bpy.props.BoolProperty(name="Shape", description="Every human shares one body shape")
    fix_detail: bpy.props.BoolProperty(name="Detail", description="Every human shares one detail mix")
    fix_face: bpy.props.BoolProperty(name="Face", description="Every human shares one facial expression")
    fix_pose: bpy.props.BoolProperty(name="Pose", description="Every human shares one motion")
    interp_frames: bpy.props.IntProperty(name="Frames", default=120, min=2, max=100000,
                                         description="Length of the interpolation")
    reroll_factor: bpy.props.EnumProperty(name="Factor", items=FACTOR_ITEMS)
    reroll_seed: bpy.props.IntProperty(name="Next Seed", default=1, min=0,
                                       description="Seed of the next re-roll (counts up after each)")


def register_pointers() -> None:
    bpy.types.WindowManager.smplpix_generate = bpy.props.PointerProperty(type=SMPLPIX_PG_generate)


def unregister_pointers() -> None:
    if hasattr(bpy.types.WindowManager, "smplpix_generate"):
        del bpy.types.WindowManager.smplpix_generate


def generated_armature(ob):
    """``ob``'s body armature if it was generated (has a human record), else None."""
    if ob is not None and ob.type != "ARMATURE" and ob.parent is not None:
        ob = ob.parent
    if ob is None or ob.type != "ARMATURE" or ob.smplpix.role != "ARMATURE" or not ob.get(RECORD_PROP):
        return None
    return ob


def _build_human(rig: Path, motion: Path, record: Path, model: str, name: str, x: float, set_scene: bool):
    from ..builders.scene import build_motion

    built = build_motion(str(rig), str(motion), name=name, set_scene=set_scene)
    arm = bpy.data.objects[built.armature]
    arm.location.x = x
    tag_built(built, str(rig), model, motion_path=str(motion))
    arm[RECORD_PROP] = str(record)
    return built


def _remove_body(arm) -> None:
    for child in list(arm.children):
        bpy.data.objects.remove(child, do_unlink=True)
    bpy.data.objects.remove(arm, do_unlink=True)


class SMPLPIX_OT_random_humans(JobOperator, bpy.types.Operator):
    """Add a row of random animated humans (shape, detail, face and motion drawn from stated priors; same seed, same
    humans)"""

    bl_idname = "smplpix.random_humans"
    bl_label = "Random Humans"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return backend_poll(cls, GenerateRandomParams.KIND)

    def steps(self, context):
        g = context.window_manager.smplpix_generate
        P = GenerateRandomParams(count=g.count, seed=g.seed, age_min=g.age_min, age_max=g.age_max,
                                 fix=tuple(f for f in FACTORS if getattr(g, f"fix_{f}")), frames=g.frames)
        P.check()
        result = yield JobStep(P.KIND, P.to_params(), f"{P.count} random humans (seed {P.seed})")
        humans = Path(result.files["humans"])
        data = json.loads(humans.read_text())
        built = []
        try:
            for i, rec in enumerate(data["humans"]):
                folder = humans.parent
                built.append(_build_human(folder / rec["files"]["rig"], folder / rec["files"]["motion"],
                                          folder / f"{rec['name']}.json", rec["model"],
                                          f"Human{rec['index']:03d}", i * g.spacing, set_scene=not built))
        except BaseException:
            for b in built:
                _remove_body(bpy.data.objects[b.armature])
            raise
        select_only(built[0].armature)
        self.report({"INFO"}, f"Added {len(built)} random humans (seed {P.seed})")


class SMPLPIX_OT_interpolate_humans(JobOperator, bpy.types.Operator):
    """Add a body that morphs from the other selected generated human into the active one while it moves"""

    bl_idname = "smplpix.interpolate_humans"
    bl_label = "Interpolate"
    bl_options = {"REGISTER", "UNDO"}

    frames: bpy.props.IntProperty(name="Frames", default=0, min=0,
                                  description="Length (0: the Generate panel's setting)")

    @classmethod
    def poll(cls, context):
        if not backend_poll(cls, GenerateInterpolateParams.KIND):
            return False
        if len(cls._pair(context)) != 2:
            cls.poll_message_set("Select two generated humans (the active one is where the morph ends)")
            return False
        return True

    @staticmethod
    def _pair(context) -> list:
        arms = []
        for ob in context.selected_objects:
            arm = generated_armature(ob)
            if arm is not None and arm not in arms:
                arms.append(arm)
        active = generated_armature(context.active_object)
        if active in arms:
            arms.remove(active)
            arms.append(active)
        return arms

    def steps(self, context):
        pair = self._pair(context)
        if len(pair) != 2:
            raise UserError("Select two generated humans (the active one is where the morph ends)")
        a, b = pair
        frames = self.frames or context.window_manager.smplpix_generate.interp_frames
        P = GenerateInterpolateParams(a=a[RECORD_PROP], b=b[RECORD_PROP], frames=frames)
        P.check()
        result = yield JobStep(P.KIND, P.to_params(), f"Interpolate {a.name} -> {b.name}")
        files = result.files
        x = max(a.location.x, b.location.x) + context.window_manager.smplpix_generate.spacing
        built = _build_human(Path(files["rig"]), Path(files["motion"]), Path(files["record"]), a.smplpix.model,
                             f"{a.name}_to_{b.name}", x, set_scene=True)
        bpy.data.objects[built.armature][RECORD_PROP] = ""  # a morph is not one human: not re-rollable
        select_only(built.armature)
        self.report({"INFO"}, f"Added {built.armature}: {built.frame_end - built.frame_start + 1} frames")


class SMPLPIX_OT_reroll_human(JobOperator, bpy.types.Operator):
    """Draw one factor (shape, detail, face or pose) of the selected generated human again, keep the others"""

    bl_idname = "smplpix.reroll_human"
    bl_label = "Re-roll"
    bl_options = {"REGISTER", "UNDO"}

    factor: bpy.props.EnumProperty(name="Factor", items=[("PANEL", "Panel", "The Generate panel's")] + FACTOR_ITEMS)
    seed: bpy.props.IntProperty(name="Seed", default=-1, min=-1, description="-1: the panel's next seed")

    @classmethod
    def poll(cls, context):
        if not backend_poll(cls, GenerateRerollParams.KIND):
            return False
        if generated_armature(context.active_object) is None:
            cls.poll_message_set("Select a human made by Random Humans")
            return False
        return True

    def steps(self, context):
        g = context.window_manager.smplpix_generate
        arm = generated_armature(context.active_object) or body_armature(context)
        if arm is None or not arm.get(RECORD_PROP):
            raise UserError("Select a human made by Random Humans")
        seed = g.reroll_seed if self.seed < 0 else self.seed
        factor = g.reroll_factor if self.factor == "PANEL" else self.factor
        P = GenerateRerollParams(record=arm[RECORD_PROP], factor=factor, seed=seed)
        name = arm.name
        result = yield JobStep(P.KIND, P.to_params(), f"Re-roll the {factor} of {name}")
        files, x = result.files, arm.location.x
        arm = bpy.data.objects.get(name)
        if arm is None:
            raise UserError(f"{name} was removed while its re-roll ran; nothing changed")
        model = json.loads(Path(files["record"]).read_text())["model"]
        built = _build_human(Path(files["rig"]), Path(files["motion"]), Path(files["record"]), model,
                             f"{name}.reroll", x, set_scene=False)
        _remove_body(arm)  # only once the new body stands
        new_arm = bpy.data.objects[built.armature]
        new_arm.name = name
        built = dataclasses.replace(built, armature=new_arm.name)
        if self.seed < 0:
            g.reroll_seed = seed + 1
        select_only(built.armature)
        self.report({"INFO"}, f"{built.armature}: new {factor} (seed {seed})")


CLASSES = (SMPLPIX_PG_generate, SMPLPIX_OT_random_humans, SMPLPIX_OT_interpolate_humans, SMPLPIX_OT_reroll_human)
