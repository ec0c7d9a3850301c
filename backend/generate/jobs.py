"""Job kinds ``generate_random``, ``generate_interpolate``, ``generate_reroll`` (contracts in
:mod:`blender_addon.core.jobs.generate`). Outputs go into the job folder; the body model is loaded once and kept
until ``free_memory``."""

from __future__ import annotations

import threading
from pathlib import Path

from backend.jobs.memory import on_free_memory
from backend.jobs.registry import JobContext, JobError, parse_params, register_job
from blender_addon.core.jobs.generate import GenerateInterpolateParams, GenerateRandomParams, GenerateRerollParams

_GENERATORS: dict[tuple, object] = {}
_LOCK = threading.Lock()


@on_free_memory
def clear_cache() -> None:
    with _LOCK:
        _GENERATORS.clear()


def _generator(model: str, model_dir: str | None, gender: str, device: str):
    from backend.generate.human import make_generator

    key = (model, model_dir, gender, device)
    with _LOCK:
        if key not in _GENERATORS:
            try:
                _GENERATORS[key] = make_generator(model, model_dir, gender, device)
            except (FileNotFoundError, ValueError) as exc:
                raise JobError(f"generate: {exc}") from exc
        return _GENERATORS[key]


def _user_errors():
    from backend.bodymodels.detail import DetailError
    from blender_addon.core.motion import MotionError
    from blender_addon.core.rigspec import RigSpecError

    return (DetailError, MotionError, RigSpecError, ValueError)


def generate_random_job(params: dict, ctx: JobContext) -> dict:
    P = parse_params(GenerateRandomParams, params)
    from backend.generate.batch import generate_random
    from backend.generate.human import GenerateOptions

    opts = GenerateOptions(model=P.model, seed=P.seed, age_range=(P.age_min, P.age_max), fix=P.fix,
                           frames=P.frames, fps=P.fps, motion_files=P.motion_files)
    for path in P.motion_files:
        if not str(path).startswith("walkcycle:") and not Path(path).exists():
            raise JobError(f"generate_random: motion file {path} does not exist; choose an existing motion file")
    ctx.progress("load_model", 0, P.count, f"loading {P.model}")
    generator = _generator(P.model, P.model_dir, opts.gender, ctx.device)
    try:
        path = generate_random(P.count, opts, ctx.job_dir / "humans", progress=lambda d, t, m: ctx.progress(
            "humans", d, t, m), generator=generator)
    except _user_errors() as exc:
        raise JobError(f"generate_random: {exc}") from exc
    return {"humans": path}


def generate_interpolate_job(params: dict, ctx: JobContext) -> dict:
    P = parse_params(GenerateInterpolateParams, params)
    from backend.generate.batch import load_record, options_of
    from backend.generate.interpolate import interpolate

    try:
        record, _ = load_record(P.a)
        ctx.progress("load_model", 0, 2, f"loading {record['model']}")
        generator = _generator(record["model"], P.model_dir, options_of(record).gender, ctx.device)
        ctx.progress("morph", 1, 2, "morphing bodies")
        files = interpolate(P.a, P.b, P.frames, ctx.job_dir, fps=P.fps, generator=generator)
    except _user_errors() as exc:
        raise JobError(f"generate_interpolate: {exc}") from exc
    ctx.progress("morph", 2, 2, "done")
    return files


def generate_reroll_job(params: dict, ctx: JobContext) -> dict:
    P = parse_params(GenerateRerollParams, params)
    from backend.generate.batch import load_record, options_of, reroll

    try:
        record, _ = load_record(P.record)
        ctx.progress("load_model", 0, 2, f"loading {record['model']}")
        generator = _generator(record["model"], P.model_dir, options_of(record).gender, ctx.device)
        ctx.progress("reroll", 1, 2, f"new {P.factor}")
        new = reroll(record, P.factor, P.seed, ctx.job_dir, generator=generator)
    except _user_errors() as exc:
        raise JobError(f"generate_reroll: {exc}") from exc
    ctx.progress("reroll", 2, 2, "done")
    d = ctx.job_dir
    return {"rig": d / new["files"]["rig"], "motion": d / new["files"]["motion"], "record": d / f"{new['name']}.json"}


register_job(GenerateRandomParams.KIND, generate_random_job)
register_job(GenerateInterpolateParams.KIND, generate_interpolate_job)
register_job(GenerateRerollParams.KIND, generate_reroll_job)
