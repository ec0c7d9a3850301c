"""Export built objects to FBX / glTF with a preset (bpy zone)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import bpy
import numpy as np

from ..body_record import shape_key_names
from ..core.export_presets import ExportPreset, get_preset


def _with_children(objects: list[bpy.types.Object]) -> list[bpy.types.Object]:
    out = list(objects)
    for ob in objects:
        out.extend(c for c in ob.children_recursive if c not in out)
    return out


@contextlib.contextmanager
def _without_shape_keys(objects: list[bpy.types.Object]):
    """Temporarily give meshes with shape keys a key-less copy whose vertices carry the body shape (the values of
    the ``shape`` group written by the builder), for exporters that have no shape-key switch (FBX)."""
    swapped = []
    try:
        for ob in objects:
            if ob.type != "MESH" or ob.data.shape_keys is None:
                continue
            me = ob.data
            n = len(me.vertices)
            blocks = me.shape_keys.key_blocks
            basis = np.empty(n * 3, np.float32)
            blocks[0].data.foreach_get("co", basis)
            co = basis.astype(np.float64)
            shape_names = shape_key_names(ob, "shape")
            buf = np.empty(n * 3, np.float32)
            for name in shape_names:
                if name in blocks and blocks[name].value != 0.0:
                    blocks[name].data.foreach_get("co", buf)
                    co += blocks[name].value * (buf - basis)
            plain = me.copy()
            swapped.append((ob, me, plain))
            ob.data = plain
            ob.shape_key_clear()
            plain.vertices.foreach_set("co", co.astype(np.float32))
            plain.update()
        yield
    finally:
        for ob, me, plain in swapped:
            ob.data = me
            bpy.data.meshes.remove(plain)


def export_scene(objects: list[str] | list[bpy.types.Object], path: str | Path, preset: str | ExportPreset,
                 shape_keys: bool = True, animation: bool = True) -> Path:
    """Export ``objects`` (names or objects; their children come along, e.g. the mesh of an armature) to ``path``.

    The file is written next to the target as ``<name>.part<suffix>`` and renamed when complete. Selection and
    the active object are restored afterwards. Returns the written path.
    """
    preset = get_preset(preset) if isinstance(preset, str) else preset
    path = Path(path)
    if path.suffix.lower() != preset.suffix:
        raise ValueError(f"{path}: preset {preset.name} writes {preset.suffix} files; change the file name.")
    obs = _with_children([bpy.data.objects[o] if isinstance(o, str) else o for o in objects])
    if not obs:
        raise ValueError(f"{path}: nothing to export; pass the built armature's name.")
    view_layer = bpy.context.view_layer
    view_layer.update()  # objects linked since the last update are not yet in view_layer.objects
    missing = [o.name for o in obs if view_layer.objects.get(o.name) is None]
    if missing:
        raise ValueError(f"{path}: {', '.join(missing)} not in the current view layer; link them to the scene.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part" + path.suffix)
    prev_selected = [o for o in view_layer.objects if o.select_get()]
    prev_active = view_layer.objects.active
    try:
        for o in prev_selected:
            o.select_set(False)
        for o in obs:
            o.select_set(True)
        view_layer.objects.active = obs[0]
        kw = preset.kwargs(shape_keys=shape_keys, animation=animation)
        strip = preset.format == "FBX" and not shape_keys
        with (_without_shape_keys(obs) if strip else contextlib.nullcontext(),
              bpy.context.temp_override(selected_objects=obs, active_object=obs[0])):
            if preset.format == "FBX":
                result = bpy.ops.export_scene.fbx(filepath=str(tmp), use_selection=True, **kw)
            else:
                result = bpy.ops.export_scene.gltf(filepath=str(tmp), use_selection=True, **kw)
        if "FINISHED" not in result:
            raise RuntimeError(f"{path}: the {preset.format} exporter did not finish ({result}).")
        if preset.format == "GLTF":  # the .bin sits beside the .gltf and is referenced by name: keep the final name
            tmp.replace(path)
            bin_tmp = tmp.with_suffix(".bin")
            if bin_tmp.exists():
                bin_tmp.replace(path.with_suffix(".bin"))
                text = path.read_text().replace(bin_tmp.name, path.with_suffix(".bin").name)
                path.write_text(text)
        else:
            tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        for o in obs:
            o.select_set(False)
        for o in prev_selected:
            o.select_set(True)
        view_layer.objects.active = prev_active
    return path
