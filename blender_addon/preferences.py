"""Add-on preferences (Edit > Preferences > Add-ons > SMPLpix Studio): backend interpreter, model folder, device,
job folder. Stored under the add-on's own package name (``__package__``), so the same code works from a source
checkout (``blender_addon``) and as an installed extension (``bl_ext.<repo>.smplpix_studio``)."""

from __future__ import annotations

from pathlib import Path

import bpy

from .ipc.backend_process import default_python

ADDON_ID = __package__


class SMPLPIX_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    backend_python: bpy.props.StringProperty(
        name="Backend Python", subtype="FILE_PATH",
        description="Interpreter of the backend's virtual environment (empty: the project's .venv next to the "
                    "add-on)")
    model_dir: bpy.props.StringProperty(
        name="Model Folder", subtype="DIR_PATH",
        description="Folder with SMPL-X / SMPL+H / SMPL / FLAME / MANO model files (Anny needs none)")
    device: bpy.props.EnumProperty(
        name="Device", default="auto",
        items=[("auto", "Auto", "GPU when the backend's torch sees one, else CPU"),
               ("cuda", "CUDA", "NVIDIA GPU"), ("cpu", "CPU", "CPU only")])
    job_folder: bpy.props.StringProperty(
        name="Job Folder", subtype="DIR_PATH",
        description="Where jobs write their files (empty: a new temporary folder per backend start)")

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        col.prop(self, "backend_python")
        if not self.backend_python:
            col.label(text=f"Default: {default_python()}", icon="INFO")
        col.prop(self, "model_dir")
        col.prop(self, "device")
        col.prop(self, "job_folder")
        from .ui.panels import draw_backend_buttons

        draw_backend_buttons(layout, context)


class _Defaults:
    """Preference values when the add-on was registered without an add-on entry (scripts, some tests)."""

    backend_python = ""
    model_dir = ""
    device = "auto"
    job_folder = ""


def get_prefs(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None and addon.preferences is not None else _Defaults()


def backend_python(prefs) -> Path:
    return Path(bpy.path.abspath(prefs.backend_python)) if prefs.backend_python else default_python()


def model_files_missing(model: str, prefs, gender: str = "neutral") -> str:
    """'' if ``model`` can be loaded with these preferences, else why not (for poll messages)."""
    if model == "anny":
        return ""
    if not prefs.model_dir:
        return f"{model.upper()} needs its model files: set Model Folder in the add-on's preferences"
    folder = Path(bpy.path.abspath(prefs.model_dir))
    variant = "right" if model == "mano" else gender
    from .core.model_registry import model_spec

    names = model_spec(model).files.get(variant, ())
    if names:
        found = [folder / sub / n for n in names for sub in ("", model) if (folder / sub / n).is_file()]
    else:
        found = list(folder.glob(f"{model.upper()}_*")) + list(folder.glob(f"{model}/{model.upper()}_*"))
    if not found:
        want = names[0] if names else f"{model.upper()}_{variant.upper()}.*"
        return f"{want} is not in {folder}: download the {model.upper()} model and put it in the Model Folder"
    return ""
