"""``build_body`` job (:class:`~blender_addon.core.jobs.body.BuildBodyParams`): a body model's RigSpec (.npz) for the
add-on to build an armature + mesh from. Result files: ``{"rig": <job folder>/rig.npz}``.

Loaded models are cached (Anny takes seconds to build); the ``free_memory`` job drops the cache. :func:`write_rig`
is also used by the ``estimate`` job, which returns the rig of its motion.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from backend.jobs.memory import on_free_memory
from backend.jobs.registry import JobContext, JobError, parse_params, register_job
from blender_addon.core.jobs.body import GENDERS, MODELS, ROLE_RIG, BuildBodyParams

log = logging.getLogger(__name__)
__all__ = ["GENDERS", "MODELS", "build_body_job", "clear_cache", "write_rig"]
_CACHE: dict[tuple, object] = {}
_CACHE_LOCK = threading.Lock()
STAGES = ("load_model", "shape", "rig_spec", "write")


@on_free_memory
def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def check_model_dir(p: BuildBodyParams) -> None:
    """A given model folder must exist (checked where the job runs, before loading anything)."""
    if p.model_dir and not Path(p.model_dir).is_dir():
        raise JobError(f"build_body: model folder {p.model_dir} does not exist; set the {p.model} model folder in "
                       "the add-on's preferences")


def _load(p: BuildBodyParams, device: str):
    phenotype = tuple(sorted((p.phenotype or {}).items()))
    key = (p.model, p.model_dir or None, p.gender, phenotype, device)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    try:
        from backend.bodymodels import load_body_model
    except ImportError as exc:
        raise JobError(f"build_body: body models are not installed in this backend ({exc})") from exc
    opts = {"phenotype": dict(p.phenotype)} if p.model == "anny" and p.phenotype else {}
    try:
        body = load_body_model(p.model, model_dir=p.model_dir or None, gender=p.gender, device=device, **opts)
    except FileNotFoundError as exc:  # blender_addon.core.model_registry.ModelFileError: its message says how to fix it
        raise JobError(f"build_body: {exc}") from exc
    except ValueError as exc:  # unknown phenotype name, bad gender for this model, ...
        raise JobError(f"build_body: {exc}") from exc
    except ImportError as exc:  # a dependency of that model is missing from the backend's environment
        raise JobError(f"build_body: the {p.model} model needs a package this backend lacks ({exc}); run "
                       "scripts/setup_env.sh or `pip install -e .[backend]` in the backend's environment") from exc
    with _CACHE_LOCK:
        _CACHE[key] = body
    return body


def write_rig(p: BuildBodyParams, ctx: JobContext, path: Path, stage: int = 0, stages: int = len(STAGES)) -> Path:
    """Load the body model of ``p`` (cached), apply its betas and write its RigSpec to ``path``; progress is reported
    as steps ``stage .. stage + 3`` of ``stages``. Returns the path."""
    check_model_dir(p)
    ctx.progress("load_model", stage, stages, f"loading the {p.model} body model")
    body = _load(p, ctx.device)
    ctx.progress("shape", stage + 1, stages, "applying shape")
    import torch

    shape = None
    if p.betas:
        if len(p.betas) > body.num_shape:
            raise JobError(f"build_body: {len(p.betas)} betas given; {p.model} takes at most {body.num_shape}")
        shape = torch.zeros(1, body.num_shape)
        shape[0, : len(p.betas)] = torch.tensor(p.betas)
        buf = next(iter(body.buffers()), None)
        if buf is not None:
            shape = shape.to(buf.device, buf.dtype)
    ctx.progress("rig_spec", stage + 2, stages, "computing the rig")
    with torch.no_grad():
        spec = body.rig_spec(shape)
    ctx.progress("write", stage + 3, stages, f"writing {path.name}")
    out = spec.save(path)
    log.info("build_body: %s", spec.summary())
    return Path(out)


def build_body_job(params: BuildBodyParams, ctx: JobContext) -> dict:
    p = parse_params(BuildBodyParams, params)
    n = len(STAGES)
    path = write_rig(p, ctx, ctx.job_dir / "rig.npz")
    ctx.progress("write", n, n, "rig written")
    return {ROLE_RIG: path}


register_job(BuildBodyParams.KIND, build_body_job)
