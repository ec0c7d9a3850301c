"""Every person of a monocular video: track people -> one sequence fit per person -> ``person_NN.npz`` +
``people.json`` in an output folder.

Each person is fitted over the frames from its first to its last sighting (frames in between where it was hidden
are filled by the fit's temporal terms and get confidence 0); its motion's ``frame_start`` says where it begins.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from backend.fitting.estimate import EstimateRequest, Progress, to_motion
from backend.fitting.face_params import apply_face_fit
from backend.fitting.fit import fit_keypoints
from backend.fitting.metrics import fit_metrics
from backend.perception.keypoints import Keypoints
from backend.perception.people import PeopleSettings
from backend.perception.postprocess import fix_left_right_swaps
from backend.perception.tracking import TrackingResult, track_people
from blender_addon.core.motion import Camera, Motion

log = logging.getLogger(__name__)
PEOPLE_INDEX = "people.json"


@dataclasses.dataclass(frozen=True)
class PeopleResult:
    out_dir: Path
    motions: list[Path]  # person_00.npz, ... (most visible first)
    summary: dict  # what people.json holds
    timings: dict


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def share_camera(motions: list[Motion]) -> list[Motion]:
    """Express every person in the first person's world so that all share its (static) camera: each fit has the
    same camera rotation and its own camera translation (its floor), so a person moves by R^T (t_k - t_0)."""
    ref = motions[0].camera
    out = [motions[0]]
    for m in motions[1:]:
        cam = m.camera
        if cam is None or ref is None or not np.allclose(cam.R[0], ref.R[0], atol=1e-6) or not np.allclose(
                cam.K[0], ref.K[0]):
            log.warning("person fits do not share a camera rotation; each keeps its own camera")
            out.append(m)
            continue
        shift = ref.R[0].T @ (cam.t[0] - ref.t[0])
        F = m.num_frames
        camera = Camera(K=np.repeat(ref.K[:1], F, 0), R=np.repeat(ref.R[:1], F, 0), t=np.repeat(ref.t[:1], F, 0),
                        image_size=ref.image_size)
        out.append(dataclasses.replace(m, transl=m.transl + shift, camera=camera))
    return out


def parse_people(value: str) -> int | None:
    """``main`` -> 1 person (the classic single-person path), ``all`` -> None (everyone), ``N`` -> N."""
    v = str(value).strip().lower()
    if v == "main":
        return 1
    if v == "all":
        return None
    if v.isdigit() and int(v) >= 1:
        return int(v)
    raise ValueError(f"--people {value!r}: use main, all or a number of people (1, 2, ...).")


def keep_people(tracks: TrackingResult, count: int | None) -> TrackingResult:
    """The ``count`` most visible people (all when None); they are already sorted by visibility."""
    if count is None:
        return tracks
    return dataclasses.replace(tracks, people=tracks.people[:count], info=tracks.info[:count])


def person_span(kp: Keypoints) -> Keypoints:
    """The frames from the person's first to its last sighting."""
    found = np.nonzero(kp.found)[0]
    return kp.subset(np.arange(found[0], found[-1] + 1))


def fit_person(kp: Keypoints, model, req: EstimateRequest, report: Progress, cancelled=None, label: str = ""):
    """One person's detections (its span) -> (Motion, metrics)."""
    kp, _ = fix_left_right_swaps(kp)
    fit = fit_keypoints(kp, model, dataclasses.replace(req.fit, device=req.device),
                        progress=lambda stage, d, n: report(f"{label}{stage}", d, n, f"iteration {d} of {n}"),
                        cancelled=cancelled)
    fit, expression, _ = apply_face_fit(fit, kp, model, progress=lambda stage, d, n: report(
        f"{label}{stage}", d, n, f"iteration {d} of {n}"), cancelled=cancelled)
    metrics = fit_metrics(fit.body_uv, fit.body_index, fit.detections, kp.found)
    return to_motion(fit, kp, model, str(req.input), metrics, expression), metrics


def estimate_people(req: EstimateRequest, count: int | None, out_dir: Path, people: PeopleSettings = PeopleSettings(),
                    progress: Progress | None = None, cancelled: Callable[[], bool] | None = None) -> PeopleResult:
    """Track every person of ``req.input``, keep ``count`` (None: all), fit each, write ``out_dir``."""
    from backend.bodymodels import load_body_model

    report = progress or (lambda stage, done, total, msg: None)
    t0 = time.perf_counter()
    model = load_body_model(req.model, model_dir=req.model_dir, device=req.device)
    tracks = track_people(req.input, req.frames, req.detect, people, req.cache_dir,
                          progress=lambda d, n: report("detect people", d, n, f"frame {d} of {n}"),
                          cancelled=cancelled)
    t_detect = time.perf_counter() - t0
    total = len(tracks.people)
    tracks = keep_people(tracks, count)
    if not tracks.people:
        raise ValueError(f"{req.input}: no person of at least {people.min_height_px:.0f} px was followed; lower "
                         "--min-height or use a video where people are larger.")
    out_dir.mkdir(parents=True, exist_ok=True)
    fitted, entries = [], []
    for i, (kp, info) in enumerate(zip(tracks.people, tracks.info)):
        motion, metrics = fit_person(person_span(kp), model, req, report, cancelled, label=f"person {i + 1}: ")
        fitted.append(dataclasses.replace(motion, metadata=dict(motion.metadata, person=dict(info, index=i))))
        entries.append(dict(info, file=f"person_{i:02d}.npz", reprojection_median_px=metrics["reprojection_median_px"]))
    motions = []
    for motion, entry in zip(share_camera(fitted), entries):
        motions.append(motion.save(out_dir / entry["file"]))
    summary = {"source": str(req.input), "people_followed": total, "people_kept": len(entries),
               "min_height_px": tracks.min_height_px, "ignored_small_detections": tracks.ignored_small,
               "people": entries}
    write_json_atomic(out_dir / PEOPLE_INDEX, summary)
    timings = {"detect": t_detect, "total": time.perf_counter() - t0}
    log.info("wrote %d people to %s (%d followed; finds under %.0f px ignored: %d)", len(entries), out_dir, total,
             tracks.min_height_px, tracks.ignored_small)
    return PeopleResult(out_dir, motions, summary, timings)
