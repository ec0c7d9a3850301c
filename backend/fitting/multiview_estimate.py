"""Several calibrated, synchronized videos -> one body per person in the calibration's world frame.

Recipe: check the inputs (calibration vs videos: count, image size; frame counts) before any long work -> follow
the people of each view (backend.perception.tracking) -> associate them across views (a person seen by two views
triangulates consistently: low reprojection error) -> fit each person to all the views that saw it
(backend.fitting.multiview); a person seen by one view only is fitted from that view (monocular, in that camera's
own frame) and flagged in its metadata (``multiview.single_view``).

The videos are assumed synchronized frame by frame: frame ``k`` of the take is frame ``k + offset[v]`` of video
``v`` (offsets default to 0).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from backend.fitting.estimate import EstimateRequest, Progress
from backend.fitting.multiview import MultiViewFit, MultiViewSettings, fit_multiview
from backend.fitting.people_estimate import PEOPLE_INDEX, fit_person, person_span, write_json_atomic
from backend.perception.calibration import CameraCalib, read_calibration
from backend.perception.frames import FrameRange, FrameSource
from backend.perception.keypoints import Keypoints
from backend.perception.people import PeopleSettings
from backend.perception.tracking import TrackingResult, track_people
from backend.perception.triangulate import dlt, reprojection_errors
from blender_addon.core.motion import Camera, Motion

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MultiViewRequest:
    base: EstimateRequest  # model, device, frames (of the take), cache, output (.npz, or a folder for people)
    videos: tuple[Path, ...]
    calibration: Path
    offsets: tuple[int, ...] = ()  # per video; () = all 0
    people: int | None = 1  # 1: the main person -> base.output is a .npz; None (all) / N -> a folder
    people_settings: PeopleSettings = PeopleSettings()
    fit: MultiViewSettings = MultiViewSettings()
    views: tuple[int, ...] | None = None  # fit only these views (all of them are tracked); None: all
    folder: bool | None = None  # write a folder (person_NN.npz + people.json); None: when people != 1


@dataclasses.dataclass(frozen=True)
class MultiViewResult:
    motions: list[Path]
    summary: dict
    timings: dict
    fits: list  # MultiViewFit (or None for a single-view person), per motion


def parse_offsets(text: str | None, count: int) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--offsets {text!r}: give one whole number of frames per video, e.g. 0,3,-1") from None
    if len(values) != count:
        raise ValueError(f"--offsets {text!r} has {len(values)} values for {count} videos; give one per video.")
    return values


def check_inputs(req: MultiViewRequest) -> tuple[list[CameraCalib], list[FrameRange]]:
    """Calibration and videos agree (count, image size), and the frame counts agree after the offsets. Returns
    the cameras (in video order) and each video's frame range."""
    cams = read_calibration(req.calibration)
    V = len(req.videos)
    if len(cams) != V:
        raise ValueError(f"{req.calibration} holds {len(cams)} cameras ({', '.join(c.name for c in cams)}) but "
                         f"{V} videos were given ({', '.join(p.name for p in req.videos)}); give one video per camera, "
                         "in the calibration's order.")
    offsets = req.offsets or (0,) * V
    infos = [FrameSource(p).info for p in req.videos]
    for cam, info in zip(cams, infos):
        if tuple(cam.image_size) != (info.width, info.height):
            raise ValueError(f"{info.path} is {info.width}x{info.height} but camera {cam.name!r} of "
                             f"{req.calibration} is calibrated for {cam.image_size[0]}x{cam.image_size[1]}; check the "
                             "order of the videos or the calibration file.")
    lengths = [info.num_frames - off for info, off in zip(infos, offsets)]
    if len(set(lengths)) > 1 and not req.offsets:
        counts = ", ".join(f"{p.name}: {i.num_frames}" for p, i in zip(req.videos, infos))
        raise ValueError(f"the videos have different frame counts ({counts}): they do not look synchronized; give "
                         "--offsets (the frame of each video that is the take's frame 0).")
    fr = req.base.frames
    take = min(lengths)
    end = take if fr.end is None else min(fr.end, take)
    ranges = [FrameRange(fr.start + off, end + off, fr.stride) for off in offsets]
    return cams, ranges


def pair_cost(cams: list[CameraCalib], a: Keypoints, b: Keypoints, min_conf: float = 0.5) -> float:
    """Median reprojection error (pixels) of the body landmarks two views' tracks share, triangulated from the
    two; inf when they share fewer than 20 confident points."""
    both = a.found & b.found
    conf = (a.body[..., 2] > min_conf) & (b.body[..., 2] > min_conf) & both[:, None]
    if conf.sum() < 20:
        return float("inf")
    uv = np.stack([a.body[..., :2][conf], b.body[..., :2][conf]])
    X = dlt(cams, uv, np.ones(uv.shape[:2], bool))
    return float(np.nanmedian(reprojection_errors(cams, X, uv)))


def associate(cams: list[CameraCalib], tracks: list[TrackingResult], max_px: float = 40.0) -> list[dict[int, int]]:
    """Groups of tracks (view -> person index in that view) that are one person: greedy merging of the
    best-agreeing pairs, at most one track per view in a group. Tracks left alone make one-view groups."""
    edges = []
    V = len(tracks)
    for i in range(V):
        for j in range(i + 1, V):
            for a, ka in enumerate(tracks[i].people):
                for b, kb in enumerate(tracks[j].people):
                    c = pair_cost([cams[i], cams[j]], ka, kb)
                    if c < max_px:
                        edges.append((c, (i, a), (j, b)))
    group_of = {(v, p): {v: p} for v in range(V) for p in range(len(tracks[v].people))}
    for _, x, y in sorted(edges):
        gx, gy = group_of[x], group_of[y]
        if gx is gy or set(gx) & set(gy):
            continue
        gx.update(gy)
        for v, p in gy.items():
            group_of[(v, p)] = gx
    groups = []
    for g in group_of.values():
        if not any(g is h for h in groups):
            groups.append(g)
    groups.sort(key=lambda g: -sum(int(tracks[v].people[p].found.sum()) for v, p in g.items()))
    return groups


def world_up(cams: list[CameraCalib]) -> str:
    """The world axis the cameras' "up" (-y of OpenCV) points along on average: "Z" or "Y"."""
    up = -np.mean([c.R[1] for c in cams], 0)
    return "Y" if abs(up[1]) > abs(up[2]) else "Z"


def _view_meta(cam: CameraCalib, video: Path, offset: int) -> dict:
    return {"name": cam.name, "video": str(video), "offset": int(offset), "K": np.asarray(cam.K).tolist(),
            "R": np.asarray(cam.R).tolist(), "t": np.asarray(cam.t).tolist(), "dist": np.asarray(cam.dist).tolist(),
            "image_size": [int(v) for v in cam.image_size]}


def to_world_motion(fit: MultiViewFit, model, cams: list[CameraCalib], videos: list[Path], offsets: list[int],
                    fps: float, frame_start: int, stride: int, calib: Path, extra: dict) -> Motion:
    """The fit as a Motion in the calibration's world frame; the first view is the motion's camera, every view is
    listed in ``metadata["views"]``."""
    F = fit.rotvec.shape[0]
    c0 = cams[0]
    camera = Camera(K=np.repeat(np.asarray(c0.K)[None], F, 0), R=np.repeat(np.asarray(c0.R)[None], F, 0),
                    t=np.repeat(np.asarray(c0.t)[None], F, 0), image_size=tuple(int(v) for v in c0.image_size))
    up = world_up(cams)
    meta = {"world_frame": f"calibration world of {calib.name}: metres, {up} up",
            "shape_kind": "anny phenotype offsets" if model.name == "anny" else "betas",
            "views": [_view_meta(c, v, o) for c, v, o in zip(cams, videos, offsets)],
            "synchronized": "videos assumed synchronized frame by frame (with the given offsets)", **extra}
    return Motion(model=model.name, fps=fps / max(1, stride), joint_names=tuple(model.joint_names),
                  rotvec=fit.rotvec, transl=fit.transl, betas=np.asarray(fit.shape, np.float64),
                  confidence=fit.confidence, camera=camera, up_axis=up, world_axes=up, source_video=str(videos[0]),
                  metadata=meta, frame_start=int(frame_start), frame_stride=int(stride), source_fps=float(fps))


def world_errors(fit: MultiViewFit) -> dict:
    """World MPJPE (no alignment) and PA-MPJPE (per frame similarity) of the fitted landmarks vs the robust
    triangulation, millimetres (points the triangulation could not make are left out)."""
    from backend.fitting.metrics import similarity_transform

    tri = fit.triangulated[:, fit.body_index]
    ok = np.isfinite(tri).all(-1)
    d = np.linalg.norm(fit.landmarks - np.nan_to_num(tri), axis=-1)
    pa = []
    for f in range(tri.shape[0]):
        if ok[f].sum() >= 6:
            s, R, t = similarity_transform(fit.landmarks[f, ok[f]], tri[f, ok[f]])
            aligned = s * fit.landmarks[f, ok[f]] @ R.T + t
            pa.append(np.linalg.norm(aligned - tri[f, ok[f]], axis=-1).mean())
    both = ok[2:] & ok[1:-1] & ok[:-2]  # jitter: second differences, mm per frame^2
    acc = lambda x: np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1)[both].mean() * 1000  # noqa: E731
    return {"world_mpjpe_mm": float(d[ok].mean() * 1000), "pa_mpjpe_mm": float(np.mean(pa) * 1000) if pa else None,
            "points": int(ok.sum()), "jitter_fit_mm": float(acc(fit.landmarks)),
            "jitter_triangulation_mm": float(acc(np.nan_to_num(tri)))}


def estimate_multiview(req: MultiViewRequest, progress: Progress | None = None,
                       cancelled: Callable[[], bool] | None = None) -> MultiViewResult:
    """Check, track per view, associate, fit each person; write ``req.base.output``."""
    from backend.bodymodels import load_body_model

    report = progress or (lambda stage, done, total, msg: None)
    t0 = time.perf_counter()
    cams, ranges = check_inputs(req)
    base = req.base
    model = load_body_model(base.model, model_dir=base.model_dir, device=base.device)
    tracks = []
    for v, (video, fr) in enumerate(zip(req.videos, ranges)):
        tracks.append(track_people(video, fr, base.detect, req.people_settings, base.cache_dir, cancelled=cancelled,
                                   progress=lambda d, n, v=v: report(f"detect view {v + 1}", d, n, f"frame {d}")))
    t_detect = time.perf_counter() - t0
    use = list(req.views) if req.views is not None else list(range(len(cams)))
    sub_cams, sub_tracks = [cams[v] for v in use], [tracks[v] for v in use]
    groups = associate(sub_cams, sub_tracks)
    if not groups:
        raise ValueError(f"no person was followed in any of {', '.join(p.name for p in req.videos)}.")
    kept = groups if req.people is None else groups[:req.people]
    offsets = list(req.offsets or (0,) * len(cams))
    fps = FrameSource(req.videos[0]).info.fps
    out = Path(base.output)
    folder = req.people != 1 if req.folder is None else req.folder
    if folder:
        out.mkdir(parents=True, exist_ok=True)
    motions, entries, fits = [], [], []
    for i, group in enumerate(kept):
        path = out / f"person_{i:02d}.npz" if folder else out
        views = [use[v] for v in sorted(group)]
        label = f"person {i + 1}: " if folder else ""
        if len(views) >= 2:
            body = np.stack([tracks[v].people[group[use.index(v)]].body for v in views])
            fit = fit_multiview([cams[v] for v in views], body, model, fps / ranges[0].stride,
                                dataclasses.replace(req.fit, device=base.device), cancelled=cancelled,
                                progress=lambda st, d, n: report(f"{label}{st}", d, n, f"iteration {d} of {n}"))
            errs = world_errors(fit)
            extra = {"multiview": {"views_used": [cams[v].name for v in views], "single_view": False,
                                   "vs_triangulation": errs}, "person": {"index": i}}
            motion = to_world_motion(fit, model, [cams[v] for v in views], [req.videos[v] for v in views],
                                     [offsets[v] for v in views], fps, ranges[0].start, ranges[0].stride,
                                     req.calibration, extra)
        else:
            v = views[0]
            kp = tracks[v].people[group[use.index(v)]]
            log.warning("person %d is seen by view %s only: fitted from that view alone", i + 1, cams[v].name)
            motion, _ = fit_person(person_span(kp), model, dataclasses.replace(base, input=req.videos[v]), report,
                                   cancelled, label=label)
            fit, errs = None, {}
            motion = dataclasses.replace(motion, metadata=dict(
                motion.metadata, multiview={"views_used": [cams[v].name], "single_view": True,
                                            "note": "seen by one view only: monocular fit in that camera's frame"},
                person={"index": i}))
        motion.save(path)
        motions.append(path)
        fits.append(fit)
        entries.append({"file": path.name, "views": [cams[v].name for v in views], "single_view": len(views) < 2,
                        "tracks": {cams[use[v]].name: sub_tracks[v].info[p]["track_id"] for v, p in group.items()},
                        **errs})
    summary = {"calibration": str(req.calibration), "videos": [str(p) for p in req.videos],
               "offsets": offsets, "people_found": len(groups), "people_kept": len(entries), "people": entries}
    if folder:
        write_json_atomic(out / PEOPLE_INDEX, summary)
    return MultiViewResult(motions, summary, {"detect": t_detect, "total": time.perf_counter() - t0}, fits)
