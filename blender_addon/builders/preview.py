"""Show a rendered avatar preview (an RGBA PNG sequence from the backend) in Blender, frame-synced with the
animation: as an image sequence on the scene camera's background and in an image datablock for the image editor."""

from __future__ import annotations

import re
from pathlib import Path

import bpy

_NUMBERED = re.compile(r"^(.*?)(\d+)\.png$", re.IGNORECASE)


def find_sequence(folder: str | Path) -> list[Path]:
    """The numbered PNG frames of ``folder`` in frame order; raises naming the folder if there are none."""
    folder = Path(folder)
    frames = sorted((p for p in folder.glob("*.png") if _NUMBERED.match(p.name)),
                    key=lambda p: int(_NUMBERED.match(p.name).group(2)))
    if not frames:
        raise FileNotFoundError(f"{folder}: no numbered PNG frames (e.g. frame_000001.png); render the avatar "
                                "preview first (Avatar panel > Render preview).")
    return frames


def load_preview(folder: str | Path, frame_start: int = 1, camera: str | None = None,
                 name: str = "SMPLpix Preview", size: float = 0.4) -> str:
    """Load the sequence as one image datablock (source SEQUENCE, frame-synced from ``frame_start``) for the image
    editor, and, if ``camera`` names a camera object, show it picture-in-picture on a plane parented to that camera
    (top-right of the camera view, ``size`` times the view height; the video background stays visible).
    Re-loading replaces the previous preview (image, plane and material) of the same name. Returns the image name."""
    frames = find_sequence(folder)
    old = bpy.data.images.get(name)
    image = bpy.data.images.load(str(frames[0]), check_existing=False)
    image.source = "SEQUENCE"
    image.alpha_mode = "STRAIGHT"
    if old is not None:
        old.user_remap(image)
        bpy.data.images.remove(old)
    image.name = name
    image["smplpix_frames"] = len(frames)
    image["smplpix_frame_start"] = int(frame_start)
    if camera is not None:
        ob = bpy.data.objects.get(camera)
        if ob is None or ob.type != "CAMERA":
            raise ValueError(f"{camera!r} is not a camera object; pick the camera built with the motion.")
        _preview_plane(image, ob, len(frames), int(frame_start), size)
    return image.name


def _sync(user, frames: int, frame_start: int) -> None:
    user.frame_start = frame_start
    user.frame_duration = frames
    user.frame_offset = 0
    user.use_auto_refresh = True
    user.use_cyclic = False


def _preview_plane(image, camera, frames: int, frame_start: int, size: float):
    """A camera-parented plane with an emissive, alpha-blended material playing ``image`` in sync."""
    from mathutils import Vector

    plane_name = f"{image.name} Plane"
    old = bpy.data.objects.get(plane_name)
    if old is not None:
        old_mesh, old_mat = old.data, old.active_material
        bpy.data.objects.remove(old)
        if old_mesh.users == 0:
            bpy.data.meshes.remove(old_mesh)
        if old_mat is not None and old_mat.users == 0:
            bpy.data.materials.remove(old_mat)
    # The camera's view rectangle at distance 1 (camera space, -Z forward); the plane sits just in front of it.
    corners = [Vector(c) for c in camera.data.view_frame(scene=bpy.context.scene)]
    depth = -corners[0].z
    xs, ys = [c.x / depth for c in corners], [c.y / depth for c in corners]
    height = (max(ys) - min(ys)) * size
    width = height  # the avatar frames are square
    margin = 0.02 * (max(ys) - min(ys))
    cx, cy = max(xs) - margin - width / 2, max(ys) - margin - height / 2
    d = max(camera.data.clip_start * 2.0, 0.2)
    verts = [((cx + sx * width / 2) * d, (cy + sy * height / 2) * d, -d) for sx, sy in
             ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    mesh = bpy.data.meshes.new(plane_name)
    mesh.from_pydata(verts, [], [(0, 1, 2, 3)])
    uv = mesh.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", [0, 0, 1, 0, 1, 1, 0, 1])
    mat = bpy.data.materials.new(plane_name)
    if mat.node_tree is None:  # Blender < 5.0; 5.0 gives every material nodes (use_nodes goes away in 6.0)
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = image
    _sync(tex.image_user, frames, frame_start)
    emit = nodes.new("ShaderNodeEmission")
    clear = nodes.new("ShaderNodeBsdfTransparent")
    mix = nodes.new("ShaderNodeMixShader")
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(tex.outputs["Color"], emit.inputs["Color"])
    links.new(tex.outputs["Alpha"], mix.inputs["Fac"])
    links.new(clear.outputs["BSDF"], mix.inputs[1])
    links.new(emit.outputs["Emission"], mix.inputs[2])
    links.new(mix.outputs["Shader"], out.inputs["Surface"])
    if hasattr(mat, "surface_render_method"):
        mat.surface_render_method = "BLENDED"
    mesh.materials.append(mat)
    plane = bpy.data.objects.new(plane_name, mesh)
    plane.parent = camera
    plane.hide_select = True
    for coll in camera.users_collection:
        coll.objects.link(plane)
    return plane
