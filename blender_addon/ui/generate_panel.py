"""Sidebar panel *Generate*: random humans, interpolation between two of them, re-roll of one factor."""

from __future__ import annotations

import bpy

from ..operators.generate import generated_armature


class SMPLPIX_PT_generate(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "SMPLpix"
    bl_label = "Generate"
    bl_idname = "SMPLPIX_PT_generate"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        g = context.window_manager.smplpix_generate
        layout = self.layout
        col = layout.column(align=True)
        row = col.row(align=True)
        row.prop(g, "count")
        row.prop(g, "seed")
        row = col.row(align=True)
        row.prop(g, "age_min")
        row.prop(g, "age_max")
        col.prop(g, "frames")
        col.prop(g, "spacing")
        col.label(text="Keep the same for all:")
        row = col.row(align=True)
        for f in ("shape", "detail", "face", "pose"):
            row.prop(g, f"fix_{f}", toggle=True)
        layout.operator("smplpix.random_humans", icon="COMMUNITY")
        box = layout.box()
        box.prop(g, "interp_frames")
        box.operator("smplpix.interpolate_humans", icon="IPO_EASE_IN_OUT")
        box = layout.box()
        arm = generated_armature(context.active_object)
        box.label(text=arm.name if arm is not None else "Select a generated human", icon="ARMATURE_DATA")
        row = box.row(align=True)
        row.prop(g, "reroll_factor", text="")
        row.prop(g, "reroll_seed")
        box.operator("smplpix.reroll_human", icon="FILE_REFRESH")


CLASSES = (SMPLPIX_PT_generate,)
