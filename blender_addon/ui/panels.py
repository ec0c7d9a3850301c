"""Sidebar panels (View3D > Sidebar > SMPLpix): Body, Estimate, Avatar, Export, Jobs."""

from __future__ import annotations

import bpy

from ..body_record import body_mesh as record_mesh
from ..body_record import shape_key_names
from ..core.names import ANNY_PHENOTYPES
from ..operators.targets import body_armature
from ..ipc.session import SESSION

MAX_SLIDERS = 60  # expression sliders shown at once (Anny has 52)


def draw_backend_buttons(layout, context) -> None:
    """Backend state and its buttons (also drawn in the add-on preferences)."""
    box = layout.box()
    if SESSION.running:
        proc = SESSION.process
        box.label(text=f"Backend running (pid {proc.proc.pid}, {SESSION.client.welcome.device})", icon="CHECKMARK")
        row = box.row(align=True)
        row.operator("smplpix.backend_start", text="Restart", icon="FILE_REFRESH")
        row.operator("smplpix.backend_stop", text="Stop", icon="CANCEL")
        box.operator("smplpix.free_memory", icon="TRASH")
    elif SESSION.died:
        box.label(text=SESSION.last_error or "The backend stopped unexpectedly", icon="ERROR")
        box.operator("smplpix.backend_start", text="Restart Backend", icon="FILE_REFRESH")
    else:
        box.label(text="Backend stopped", icon="RADIOBUT_OFF")
        box.operator("smplpix.backend_start", icon="PLAY")


class _Panel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "SMPLpix"


def _shape_key_group(mesh, group: str) -> list:
    if mesh is None or mesh.data.shape_keys is None:
        return []
    names = shape_key_names(mesh, group)
    blocks = mesh.data.shape_keys.key_blocks
    return [blocks[n] for n in names if n in blocks]


def body_mesh(context):
    arm = body_armature(context)
    if arm is None:
        return None
    return record_mesh(arm)


class SMPLPIX_PT_body(_Panel, bpy.types.Panel):
    bl_label = "Body"
    bl_idname = "SMPLPIX_PT_body"

    def draw(self, context):
        layout = self.layout
        s = context.scene.smplpix
        col = layout.column()
        col.prop(s, "model")
        if s.model == "anny":
            sub = col.column(align=True)
            for name in ANNY_PHENOTYPES:
                sub.prop(s, f"pheno_{name}", slider=True)
        else:
            col.prop(s, "gender")
        col.prop(s, "body_name")
        col.operator("smplpix.add_body", icon="OUTLINER_OB_ARMATURE")
        col.separator()
        col.prop(s, "motion_path")
        col.operator("smplpix.import_motion", icon="ANIM")
        mesh = body_mesh(context)
        shape = _shape_key_group(mesh, "shape")
        if shape:
            box = layout.box()
            box.label(text=f"Shape of {mesh.name}")
            sub = box.column(align=True)
            for kb in shape:
                sub.prop(kb, "value", text=kb.name, slider=True)
        if _shape_key_group(mesh, "pose"):
            layout.prop(mesh.smplpix, "fast_playback", icon="PLAY")


class SMPLPIX_PT_expression(_Panel, bpy.types.Panel):
    bl_label = "Expression"
    bl_idname = "SMPLPIX_PT_expression"
    bl_parent_id = "SMPLPIX_PT_body"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context):
        return bool(_shape_key_group(body_mesh(context), "expression"))

    def draw(self, context):
        col = self.layout.column(align=True)
        for kb in _shape_key_group(body_mesh(context), "expression")[:MAX_SLIDERS]:
            col.prop(kb, "value", text=kb.name, slider=True)


class SMPLPIX_PT_estimate(_Panel, bpy.types.Panel):
    bl_label = "Estimate"
    bl_idname = "SMPLPIX_PT_estimate"

    def draw(self, context):
        s = context.scene.smplpix
        col = self.layout.column()
        col.prop(s, "video_path")
        col.prop(s, "model")
        col.prop(s, "people", expand=True)
        col.prop(s, "calibration_path")
        if s.calibration_path:
            col.prop(s, "other_videos")
            col.prop(s, "video_offsets")
        col.operator("smplpix.estimate_video", icon="VIEW_CAMERA")
        row = col.row()
        row.scale_y = 1.4
        row.operator("smplpix.video_to_avatar", icon="PLAY")


class SMPLPIX_PT_avatar(_Panel, bpy.types.Panel):
    bl_label = "Avatar"
    bl_idname = "SMPLPIX_PT_avatar"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        s = context.scene.smplpix
        col = self.layout.column()
        arm = body_armature(context)
        if arm is not None and arm.smplpix.avatar_path:
            col.label(text=f"Avatar: {bpy.path.basename(arm.smplpix.avatar_path)}", icon="CHECKMARK")
        col.prop(s, "avatar_steps")
        col.prop(s, "avatar_size")
        col.operator("smplpix.train_avatar", icon="OUTLINER_OB_LIGHTPROBE")
        col.operator("smplpix.render_avatar", icon="RENDER_ANIMATION")


class SMPLPIX_PT_export(_Panel, bpy.types.Panel):
    bl_label = "Export"
    bl_idname = "SMPLPIX_PT_export"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        s = context.scene.smplpix
        col = self.layout.column()
        col.prop(s, "export_preset")
        col.prop(s, "export_path")
        col.operator("smplpix.export_body", icon="EXPORT")


class SMPLPIX_UL_jobs(bpy.types.UIList):
    bl_idname = "SMPLPIX_UL_jobs"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row(align=True)
        icons = {"done": "CHECKMARK", "failed": "ERROR", "cancelled": "CANCEL"}
        row.label(text=item.label, icon=icons.get(item.state, "SORTTIME"))
        if item.state in ("queued", "running"):
            row.progress(factor=item.progress, type="BAR", text=f"{item.stage} {int(item.progress * 100)}%")
            row.operator("smplpix.cancel_job", text="", icon="X").job_id = item.job_id
        else:
            row.label(text=item.message[:80] if item.state != "done" else "done")


class SMPLPIX_PT_jobs(_Panel, bpy.types.Panel):
    bl_label = "Jobs"
    bl_idname = "SMPLPIX_PT_jobs"

    def draw(self, context):
        layout = self.layout
        draw_backend_buttons(layout, context)
        jobs = context.window_manager.smplpix_jobs
        layout.template_list("SMPLPIX_UL_jobs", "", jobs, "jobs", jobs, "active_index", rows=3)
        if 0 <= jobs.active_index < len(jobs.jobs):
            item = jobs.jobs[jobs.active_index]
            if item.message and item.state in ("failed", "cancelled"):
                box = layout.box()
                for line in item.message.splitlines()[:6]:
                    box.label(text=line[:120])
        layout.operator("smplpix.clear_jobs", icon="BRUSH_DATA")


CLASSES = (SMPLPIX_PT_body, SMPLPIX_PT_expression, SMPLPIX_PT_estimate, SMPLPIX_PT_avatar, SMPLPIX_PT_export,
           SMPLPIX_UL_jobs, SMPLPIX_PT_jobs)
