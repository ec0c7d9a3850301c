"""Several people of one take: one animated body per person ("Person 1", "Person 2", ...) sharing the take's
cameras: one camera with the video plate for a monocular video, or one camera per calibrated view (each with its
own video plate) for a multi-camera take, whose motions are in the calibration's world frame.

A person's motion starts at source frame ``Motion.frame_start``; the bodies are placed on the scene's timeline
relative to the earliest one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import bpy
import numpy as np

from .. import body_record
from ..core.motion import Camera, Motion
from ..core.readers import read_motion
from .camera import build_camera
from .common import Created, world_rotation
from .scene import BuildResult, _motion_axes, build_motion


@dataclasses.dataclass(frozen=True)
class PeopleBuild:
    bodies: tuple[BuildResult, ...]
    cameras: tuple[str, ...]  # camera object names (the first is the scene camera)
    frame_start: int
    frame_end: int


def _view_camera(view: dict, frames: int) -> Camera:
    K, R, t = (np.asarray(view[k], np.float64) for k in ("K", "R", "t"))
    return Camera(K=np.repeat(K[None], frames, 0), R=np.repeat(R[None], frames, 0), t=np.repeat(t[None], frames, 0),
                  image_size=tuple(int(v) for v in view["image_size"]))


def build_people(rig, motions: list, video: str | Path | None = None, frame_start: int = 1,
                 collection=None, name: str = "Person") -> PeopleBuild:
    """Build every motion (Motion or path) of one take as ``{name} 1``, ``{name} 2``, ... and the take's cameras.
    ``video``: the plate of the monocular camera (default: the first motion's source video)."""
    motions = [m if isinstance(m, Motion) else read_motion(m) for m in motions]
    if not motions:
        raise ValueError("no people to build: the estimate found nobody large enough; lower the minimum height.")
    starts = [int(m.frame_start) for m in motions]
    strides = [max(1, int(m.frame_stride)) for m in motions]
    first = min(starts)
    multiview = any("views" in m.metadata for m in motions)
    bodies, cameras = [], []
    for i, (m, s0, st) in enumerate(zip(motions, starts, strides)):
        offset = frame_start + (s0 - first) // st
        own_camera = i == 0 and not multiview
        built = build_motion(rig, m, name=f"{name} {i + 1}", frame_start=offset, collection=collection,
                             camera=own_camera, video=video if own_camera else None, set_scene=i == 0)
        bodies.append(built)
        if built.camera:
            cameras.append(built.camera)
    if multiview:
        cameras += _build_view_cameras(motions, frame_start, collection)
    scene = bpy.context.scene
    end = max(b.frame_end for b in bodies)
    scene.frame_start, scene.frame_end = frame_start, end
    if cameras:
        scene.camera = bpy.data.objects[cameras[0]]
        w, h = body_record.camera_image_size(bpy.data.objects[cameras[0]]) or (1920, 1080)
        scene.render.resolution_x, scene.render.resolution_y = int(w), int(h)
    return PeopleBuild(tuple(bodies), tuple(cameras), frame_start, end)


def _build_view_cameras(motions: list[Motion], frame_start: int, collection) -> list[str]:
    """One static camera per calibrated view named in the motions (each with its video plate when the file
    exists), in the world axes of the first multi-view motion."""
    ref = next(m for m in motions if "views" in m.metadata)
    axes = _motion_axes(ref)
    views = {}
    for m in motions:
        for v in m.metadata.get("views", []):
            views.setdefault(v["name"], v)
    coll = collection or bpy.context.scene.collection
    first_view = ref.metadata["views"][0]
    take_start = int(ref.frame_start) - int(first_view.get("offset", 0))
    created = Created()
    names = []
    try:
        obs = []
        for view in views.values():
            video = view.get("video")
            plate = video if video and Path(video).is_file() else None
            ob = build_camera(_view_camera(view, 1), f"Camera {view['name']}", world_rotation(axes),
                              frame_start - take_start - int(view.get("offset", 0)), created, plate)
            obs.append(ob)
        for ob in obs:
            coll.objects.link(ob)
            names.append(ob.name)
    except BaseException:
        created.remove_all()
        raise
    return names
