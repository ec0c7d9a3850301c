"""Sidebar panel *Scan* (View3D > Sidebar > SMPLpix): a scan file or the selected mesh -> Fit Body -> Rig Scan ->
Apply Motion."""

from __future__ import annotations

import bpy

from ..operators.scan import selected_scan_object
from ..operators.targets import body_armature
from .panels import _Panel


class SMPLPIX_PT_scan(_Panel, bpy.types.Panel):
    bl_label = "Scan"
    bl_idname = "SMPLPIX_PT_scan"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        s = context.scene.smplpix
        col = self.layout.column()
        ob = selected_scan_object(context)
        if ob is not None and not s.scan_path:
            col.label(text=f"Fit to the selected mesh {ob.name}", icon="MESH_DATA")
        col.prop(s, "scan_path")
        col.prop(s, "scan_model")
        col.operator("smplpix.scan_fit", icon="MOD_SHRINKWRAP")
        arm = body_armature(context)
        if arm is not None and arm.smplpix.scan_fit_path:
            scan = arm.smplpix.scan
            col.label(text=f"Scan: {scan.name if scan is not None else '?'}", icon="CHECKMARK")
        col.operator("smplpix.scan_rig", icon="ARMATURE_DATA")
        col.prop(s, "motion_path")
        col.operator("smplpix.scan_apply_motion", icon="ACTION")


CLASSES = (SMPLPIX_PT_scan,)
