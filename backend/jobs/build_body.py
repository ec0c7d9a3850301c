"""``build_body`` job: a body model's RigSpec (.npz) for the add-on to build an armature + mesh from.

Params (JSON):
    model: str            "anny" (default), "smplx", "smplh", "smpl", ...
    model_dir: str | null folder holding the SMPL-family model files (not needed for Anny)
    gender: str           "neutral" (default), "male", "female"
    betas: list[float]    shape coefficients (S,), baked/linear as the model defines; optional
    phenotype: dict       Anny base phenotype values in [0, 1] by name (e.g. {"age": 0.5}); optional
    (for Anny, betas are offsets from that base phenotype, in RigSpec.param_names order)
Result files: ``{"rig": <job folder>/rig.npz}``.

Loaded models are cached (Anny takes seconds to build); the ``free_memory`` job drops the cache.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

from backend.jobs.memory import on_free_memory
from backend.jobs.registry import JobContext, JobError, register_job

log = logging.getLogger(__name__)
MODELS = ("anny", "smplx", "smplh", "smpl", "flame", "mano")
GENDERS = ("neutral", "male", "female")
_CACHE: dict[tuple, object] = {}
_CACHE_LOCK = threading.Lock()
STAGES = ("load_model", "shape", "rig_spec", "write")


@on_free_memory
def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def parse_params(params: dict) -> dict:
    """Validate and normalise the JSON params; raises JobError saying which one is wrong and how to fix it."""
    model = params.get("model", "anny")
    if model not in MODELS:
        raise JobError(f"build_body: unknown model {model!r}; choose one of {', '.join(MODELS)}")
    gender = params.get("gender", "neutral")
    if gender not in GENDERS:
        raise JobError(f"build_body: gender {gender!r}; choose one of {', '.join(GENDERS)}")
    model_dir = params.get("model_dir") or None
    if model_dir is not None:
        if not isinstance(model_dir, str):
            raise JobError("build_body: model_dir must be a folder path string")
        if not Path(model_dir).is_dir():
            raise JobError(f"build_body: model folder {model_dir} does not exist; set the {model} model folder in "
                           "the add-on's preferences")
    betas = params.get("betas") or []
    if not isinstance(betas, list) or not all(_finite(b) for b in betas):
        raise JobError("build_body: betas must be a list of finite numbers")
    phenotype = params.get("phenotype") or {}
    if not isinstance(phenotype, dict) or not all(isinstance(k, str) and _finite(v) for k, v in phenotype.items()):
        raise JobError("build_body: phenotype must map names to finite numbers")
    return {"model": model, "gender": gender, "model_dir": model_dir, "betas": [float(b) for b in betas],
            "phenotype": {k: float(v) for k, v in phenotype.items()}}


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _load(p: dict, device: str):
    phenotype = tuple(sorted(p["phenotype"].items()))
    key = (p["model"], p["model_dir"], p["gender"], phenotype, device)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    try:
        from backend.bodymodels import load_body_model
    except ImportError as exc:
        raise JobError(f"build_body: body models are not installed in this backend ({exc})") from exc
    opts = {"phenotype": p["phenotype"]} if p["model"] == "anny" and p["phenotype"] else {}
    try:
        body = load_body_model(p["model"], model_dir=p["model_dir"], gender=p["gender"], device=device, **opts)
    except FileNotFoundError as exc:  # blender_addon.core.model_registry.ModelFileError: its message says how to fix it
        raise JobError(f"build_body: {exc}") from exc
    except ValueError as exc:  # unknown phenotype name, bad gender for this model, ...
        raise JobError(f"build_body: {exc}") from exc
    except ImportError as exc:  # a dependency of that model is missing from the backend's environment
        raise JobError(f"build_body: the {p['model']} model needs a package this backend lacks ({exc}); run "
                       "scripts/setup_env.sh or `pip install -e .[backend]` in the backend's environment") from exc
    with _CACHE_LOCK:
        _CACHE[key] = body
    return body


def build_body_job(params: dict, ctx: JobContext) -> dict:
    p = parse_params(params)
    if p["phenotype"] and p["model"] != "anny":
        raise JobError(f"build_body: phenotype applies to Anny only; give {p['model']} betas instead")
    n = len(STAGES)
    ctx.progress("load_model", 0, n, f"loading the {p['model']} body model")
    body = _load(p, ctx.device)
    ctx.progress("shape", 1, n, "applying shape")
    import torch

    shape = None
    if p["betas"]:
        if len(p["betas"]) > body.num_shape:
            raise JobError(f"build_body: {len(p['betas'])} betas given; {p['model']} takes at most {body.num_shape}")
        shape = torch.zeros(1, body.num_shape)
        shape[0, : len(p["betas"])] = torch.tensor(p["betas"])
        buf = next(iter(body.buffers()), None)
        if buf is not None:
            shape = shape.to(buf.device, buf.dtype)
    ctx.progress("rig_spec", 2, n, "computing the rig")
    with torch.no_grad():
        spec = body.rig_spec(shape)
    ctx.progress("write", 3, n, "writing rig.npz")
    path = spec.save(ctx.job_dir / "rig.npz")
    ctx.progress("write", n, n, f"{spec.num_joints} joints, {spec.num_vertices} vertices")
    log.info("build_body: %s", spec.summary())
    return {"rig": path}


register_job("build_body", build_body_job)
