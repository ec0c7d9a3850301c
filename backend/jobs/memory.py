"""``free_memory`` job (:class:`~blender_addon.core.jobs.system.FreeMemoryParams`): drop cached models and return
GPU memory to the driver.

Capabilities that cache models register a release callback with :func:`on_free_memory`.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
from collections.abc import Callable

from backend.jobs.registry import JobContext, parse_params, register_job
from blender_addon.core.jobs.system import ROLE_REPORT, FreeMemoryParams

log = logging.getLogger(__name__)
_RELEASERS: list[Callable[[], None]] = []


def on_free_memory(fn: Callable[[], None]) -> Callable[[], None]:
    """Register ``fn`` to drop a cache when the user frees memory."""
    _RELEASERS.append(fn)
    return fn


def free_memory_job(params: FreeMemoryParams, ctx: JobContext) -> dict:
    parse_params(FreeMemoryParams, params)
    ctx.progress("free_memory", 0, len(_RELEASERS) + 1, "dropping cached models")
    for i, fn in enumerate(list(_RELEASERS)):
        fn()
        ctx.progress("free_memory", i + 1, len(_RELEASERS) + 1)
    gc.collect()
    freed = {"cuda": False}
    torch = sys.modules.get("torch")  # only if a job already loaded it
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
        freed = {"cuda": True, "allocated_bytes": int(torch.cuda.memory_allocated())}
    ctx.progress("free_memory", len(_RELEASERS) + 1, len(_RELEASERS) + 1, "done")
    out = ctx.job_dir / "memory.json"
    out.write_text(json.dumps(freed))
    log.info("freed memory: %s", freed)
    return {ROLE_REPORT: out}


register_job("free_memory", free_memory_job)
