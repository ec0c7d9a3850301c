"""Show a rendered avatar (a full-frame RGBA PNG sequence from the backend, aligned with the source video) in
Blender, frame-synced with the animation, as a layer over the video plate:

- in the viewport: a camera background image in front of the camera's movie-clip plate (through that camera);
- in renders: the scene compositor puts the sequence over the plate (Alpha Over, straight alpha, scaled to the
  render size), so F12 / ``render.render`` gives the composited frame;
- in the image editor: the image datablock itself.
"""

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
                 name: str = "SMPLpix Preview") -> str:
    """Load the sequence as one image datablock (source SEQUENCE, frame-synced from ``frame_start``) and, if
    ``camera`` names a camera object, layer it over that camera's video plate (viewport background and compositor).
    Re-loading replaces the previous preview of the same name (image, background entry, compositor group).
    Returns the image name."""
    frames = find_sequence(folder)
    cam_ob = None
    if camera is not None:
        cam_ob = bpy.data.objects.get(camera)
        if cam_ob is None or cam_ob.type != "CAMERA":
            raise ValueError(f"{camera!r} is not a camera object; pick the camera built with the motion.")
    old = bpy.data.images.get(name)
    image = bpy.data.images.load(str(frames[0]), check_existing=False)
    image.source = "SEQUENCE"
    image.alpha_mode = "STRAIGHT"
    if old is not None:
        _drop_backgrounds(old)
        old.user_remap(image)
        bpy.data.images.remove(old)
    image.name = name
    image["smplpix_frames"] = len(frames)
    image["smplpix_frame_start"] = int(frame_start)
    first = int(_NUMBERED.match(frames[0].name).group(2))
    _remove_crop_plane(name)
    if cam_ob is not None:
        scene = bpy.context.scene
        _camera_layer(image, cam_ob, len(frames), int(frame_start), first)
        _composite(scene, image, plate_clip(cam_ob), len(frames), int(frame_start), first, name)
        scene.camera = cam_ob
    return image.name


def _sync(user, frames: int, frame_start: int, first_number: int = 1) -> None:
    """Play the sequence from scene frame ``frame_start``: Blender shows file number (frame - frame_start + 1 +
    offset), so the offset is the first file's number minus one."""
    user.frame_start = frame_start
    user.frame_duration = frames
    user.frame_offset = first_number - 1
    user.use_auto_refresh = True
    user.use_cyclic = False


def plate_clip(camera) -> bpy.types.MovieClip | None:
    """The movie clip shown as ``camera``'s video plate (its first movie-clip background), or None."""
    return next((bg.clip for bg in camera.data.background_images if bg.source == "MOVIE_CLIP" and bg.clip), None)


def _drop_backgrounds(image) -> None:
    for cam in bpy.data.cameras:
        for bg in [bg for bg in cam.background_images if bg.source == "IMAGE" and bg.image == image]:
            cam.background_images.remove(bg)


def _camera_layer(image, camera, frames: int, frame_start: int, first: int):
    """A background image of ``camera`` drawn in front of its plate: the sequence stretched to the camera frame."""
    data = camera.data
    data.show_background_images = True
    bg = data.background_images.new()
    bg.source = "IMAGE"
    bg.image = image
    _sync(bg.image_user, frames, frame_start, first)
    bg.alpha = 1.0
    bg.display_depth = "FRONT"
    bg.frame_method = "STRETCH"
    return bg


def _composite(scene, image, clip, frames: int, frame_start: int, first: int, name: str):
    """The scene's compositor: the avatar sequence (scaled to the render size) over the movie-clip plate (or over
    the render when there is no plate) -> the group output, i.e. the rendered frame."""
    group_name = f"{name} Composite"
    old = bpy.data.node_groups.get(group_name)
    if old is not None:
        bpy.data.node_groups.remove(old)
    tree = bpy.data.node_groups.new(group_name, "CompositorNodeTree")
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    nodes, links = tree.nodes, tree.links
    avatar = nodes.new("CompositorNodeImage")
    avatar.image = image
    _sync(avatar, frames, frame_start, first)
    fit = nodes.new("CompositorNodeScale")
    _set_menu(fit.inputs["Type"], ("Render Size", "Scene Size", "RENDER_SIZE"))
    if clip is not None:
        plate = nodes.new("CompositorNodeMovieClip")
        plate.clip = clip
        back = nodes.new("CompositorNodeScale")
        _set_menu(back.inputs["Type"], ("Render Size", "Scene Size", "RENDER_SIZE"))
        links.new(plate.outputs["Image"], back.inputs["Image"])
    else:
        back = nodes.new("CompositorNodeRLayers")
    over = nodes.new("CompositorNodeAlphaOver")
    over.inputs["Straight Alpha"].default_value = True
    out = nodes.new("NodeGroupOutput")
    links.new(avatar.outputs["Image"], fit.inputs["Image"])
    links.new(back.outputs["Image"], over.inputs["Background"])
    links.new(fit.outputs["Image"], over.inputs["Foreground"])
    links.new(over.outputs["Image"], out.inputs[0])
    for i, node in enumerate((avatar, fit, back, over, out)):
        node.location = (200 * i, 0)
    scene.compositing_node_group = tree
    return tree


def _set_menu(socket, choices: tuple[str, ...]) -> None:
    for value in choices:
        try:
            socket.default_value = value
            return
        except (TypeError, ValueError):
            continue
    raise ValueError(f"compositor menu {socket.name!r} has none of {choices}")


def _remove_crop_plane(name: str) -> None:
    """Remove the picture-in-picture plane (and its mesh and material) older versions parented to the camera."""
    old = bpy.data.objects.get(f"{name} Plane")
    if old is None:
        return
    old_mesh, old_mat = old.data, old.active_material
    bpy.data.objects.remove(old)
    if old_mesh is not None and old_mesh.users == 0:
        bpy.data.meshes.remove(old_mesh)
    if old_mat is not None and old_mat.users == 0:
        bpy.data.materials.remove(old_mat)
