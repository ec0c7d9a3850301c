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
                 name: str = "SMPLpix Preview", alpha: float = 1.0) -> str:
    """Load the sequence as one image datablock (source SEQUENCE) and, if ``camera`` names a camera object, put it
    in front of that camera's background (the source video, if any, stays behind it). Returns the image's name.

    Re-loading replaces the previous preview image of the same name, so repeated renders do not pile up."""
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
        cam = ob.data
        cam.show_background_images = True
        bg = next((b for b in cam.background_images if b.source == "IMAGE" and b.image == image), None)
        if bg is None:
            bg = cam.background_images.new()
        bg.source = "IMAGE"
        bg.image = image
        bg.alpha = alpha
        bg.display_depth = "FRONT"
        user = bg.image_user
        user.frame_start = int(frame_start)
        user.frame_duration = len(frames)
        user.frame_offset = 0
        user.use_auto_refresh = True
    return image.name
