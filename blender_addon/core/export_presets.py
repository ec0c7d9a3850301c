"""Export presets as plain data (no bpy): operator keyword arguments for Blender's FBX and glTF exporters.

Targets:
- generic: Blender's defaults (FBX: centimetre units in the file, Y up / -Z forward; glTF: metres, Y up).
- unity: FBX with "FBX All" scale (Unity imports at scale 1) and the space transform baked, so the root has no
  -90 degree X rotation; glTF as generic.
- unreal: FBX with geometry in centimetres and unit scale 1 (Unreal's units), X forward for Unreal's +X
  forward; glTF as generic.
All presets export the armature's deform bones only, without leaf bones, with baked animation; glTF presets keep
every bone influence per vertex (Anny has up to 9: the default top 4 moves shoulders by up to 17 mm).
"""

from __future__ import annotations

import dataclasses

FORMATS = ("FBX", "GLB", "GLTF")
TARGETS = ("generic", "unity", "unreal")


@dataclasses.dataclass(frozen=True)
class ExportPreset:
    name: str
    format: str  # "FBX", "GLB" (binary glTF) or "GLTF" (JSON + .bin)
    target: str
    options: tuple[tuple[str, object], ...]  # exporter keyword arguments

    @property
    def suffix(self) -> str:
        return {"FBX": ".fbx", "GLB": ".glb", "GLTF": ".gltf"}[self.format]

    def kwargs(self, shape_keys: bool = True, animation: bool = True) -> dict:
        """Exporter keyword arguments with shape keys (morph targets) and animation switched on or off."""
        kw = dict(self.options)
        if self.format == "FBX":  # FBX has no shape-key switch: export_scene swaps in key-less meshes instead
            kw["bake_anim"] = animation
        else:
            kw.update(export_animations=animation, export_morph=shape_keys, export_morph_animation=shape_keys)
        return kw


_FBX_COMMON = (
    ("object_types", {"ARMATURE", "MESH", "CAMERA"}), ("add_leaf_bones", False), ("use_armature_deform_only", True),
    ("bake_anim_use_all_bones", True), ("bake_anim_use_nla_strips", False), ("bake_anim_use_all_actions", False),
    ("bake_anim_force_startend_keying", True), ("bake_anim_simplify_factor", 0.0), ("mesh_smooth_type", "FACE"),
    ("primary_bone_axis", "Y"), ("secondary_bone_axis", "X"), ("use_mesh_modifiers", False),
)
_GLTF_COMMON = (
    ("export_yup", True), ("export_skins", True), ("export_def_bones", True), ("export_leaf_bone", False),
    ("export_force_sampling", True), ("export_optimize_animation_size", False), ("export_anim_single_armature", True),
    ("export_animation_mode", "ACTIVE_ACTIONS"), ("export_cameras", True), ("export_apply", False),
    ("export_all_influences", True),  # every skin weight (several JOINTS_n/WEIGHTS_n sets), not the top 4
)

PRESETS: dict[str, ExportPreset] = {
    "fbx_generic": ExportPreset("fbx_generic", "FBX", "generic", _FBX_COMMON + (
        ("apply_unit_scale", True), ("apply_scale_options", "FBX_SCALE_NONE"), ("global_scale", 1.0),
        ("axis_forward", "-Z"), ("axis_up", "Y"))),
    "fbx_unity": ExportPreset("fbx_unity", "FBX", "unity", _FBX_COMMON + (
        ("apply_unit_scale", True), ("apply_scale_options", "FBX_SCALE_ALL"), ("global_scale", 1.0),
        ("axis_forward", "-Z"), ("axis_up", "Y"), ("bake_space_transform", True))),
    "fbx_unreal": ExportPreset("fbx_unreal", "FBX", "unreal", _FBX_COMMON + (
        ("apply_unit_scale", True), ("apply_scale_options", "FBX_SCALE_NONE"), ("global_scale", 1.0),
        ("axis_forward", "X"), ("axis_up", "Z"))),
    "glb_generic": ExportPreset("glb_generic", "GLB", "generic", _GLTF_COMMON + (("export_format", "GLB"),)),
    "glb_unity": ExportPreset("glb_unity", "GLB", "unity", _GLTF_COMMON + (("export_format", "GLB"),)),
    "glb_unreal": ExportPreset("glb_unreal", "GLB", "unreal", _GLTF_COMMON + (("export_format", "GLB"),)),
    "gltf_generic": ExportPreset("gltf_generic", "GLTF", "generic",
                                 _GLTF_COMMON + (("export_format", "GLTF_SEPARATE"),)),
}


def get_preset(name: str) -> ExportPreset:
    """The preset called ``name`` (see PRESETS); ValueError listing the valid names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown export preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def preset_items() -> list[tuple[str, str, str]]:
    """(identifier, label, description) triples for an EnumProperty."""
    return [(p.name, f"{p.format} ({p.target.capitalize()})", f"Export {p.format} for {p.target}")
            for p in PRESETS.values()]
