"""Job kinds for tests of the server and the add-on (registered only when SMPLPIX_TEST_JOBS=1).

- ``count`` (:class:`~blender_addon.core.jobs.system.CountParams`): counts n steps with progress and cancel checks
  and writes ``count.json`` into the job folder.
- ``fail`` (:class:`~blender_addon.core.jobs.system.FailParams`): raises a JobError (user=True) or an unexpected
  RuntimeError.
"""

from __future__ import annotations

import json
import time

from backend.jobs.registry import JobContext, JobError, parse_params, register_job
from blender_addon.core.jobs.system import ROLE_COUNT, CountParams, FailParams


def count_job(params: CountParams, ctx: JobContext) -> dict:
    P = parse_params(CountParams, params)
    n, delay = P.n, P.delay
    for i in range(n):
        ctx.progress("count", i, n, f"step {i + 1} of {n}")
        time.sleep(delay)
    ctx.progress("count", n, n, "done")
    out = ctx.job_dir / "count.json"
    out.write_text(json.dumps({"n": n}))
    return {ROLE_COUNT: out}


def fail_job(params: FailParams, ctx: JobContext) -> dict:
    P = parse_params(FailParams, params)
    ctx.progress("fail", 0, 1, "about to fail")
    if P.user:
        raise JobError("fail: this job always fails (test job)")
    raise RuntimeError("unexpected failure (test job)")


register_job("count", count_job)
register_job("fail", fail_job)
