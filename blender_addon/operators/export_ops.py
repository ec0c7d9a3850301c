"""Export operator: the selected built body (armature + mesh + animation) to FBX/GLB/glTF with a preset."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..body_record import body_camera
from .targets import body_armature, body_poll


class SMPLPIX_OT_export_body(bpy.types.Operator):
    """Export the selected body with the chosen preset (FBX, GLB or glTF for generic use, Unity or Unreal)"""

    bl_idname = "smplpix.export_body"
    bl_label = "Export Body"
    bl_options = {"REGISTER"}

    filepath: bpy.props.StringProperty(name="File", subtype="FILE_PATH",
                                       description="Output file (empty: the one set in the Export panel)")
    preset: bpy.props.StringProperty(name="Preset", description="Preset name (empty: the Export panel's)")
    camera: bpy.props.BoolProperty(name="Camera", default=True,
                                   description="Also export the camera estimated with this body, if any")
    every_body: bpy.props.BoolProperty(name="Every Body", default=False,
                                       description="Export every body of the scene (all people of a take) and "
                                                   "every camera, not only the selected body")

    @classmethod
    def poll(cls, context):
        return body_poll(cls, context, "Select a body built by SMPLpix (its armature or mesh)")

    def execute(self, context):
        from ..export.exporter import export_scene
        from ..core.export_presets import get_preset

        s = context.scene.smplpix
        try:
            preset = get_preset(self.preset or s.export_preset)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        raw = self.filepath or s.export_path
        if not raw:
            self.report({"ERROR"}, "Choose an output file in the Export panel")
            return {"CANCELLED"}
        path = Path(bpy.path.abspath(raw))
        if path.suffix.lower() != preset.suffix:
            path = path.with_suffix(preset.suffix)
        arm = body_armature(context)
        objects = [arm.name]
        if self.every_body:  # every body of the scene (the people of one take) and every camera
            objects = [ob.name for ob in context.scene.objects if ob.type == "ARMATURE" and ob.smplpix.role]
            if self.camera:
                objects += [ob.name for ob in context.scene.objects if ob.type == "CAMERA"]
        else:
            camera = body_camera(arm) if self.camera else None
            if camera is not None and context.scene.objects.get(camera.name) is not None:
                objects.append(camera.name)
        try:
            written = export_scene(objects, path, preset)
        except (ValueError, OSError, RuntimeError) as exc:
            self.report({"ERROR"}, f"Export failed: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported {arm.name} to {written}")
        return {"FINISHED"}


CLASSES = (SMPLPIX_OT_export_body,)
