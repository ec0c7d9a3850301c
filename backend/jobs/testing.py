"""Job kinds for tests of the server and the add-on (registered only when SMPLPIX_TEST_JOBS=1).

- ``count``: params ``{"n": int, "delay": float seconds}``; counts n steps with progress and cancel checks and
  writes ``count.json`` into the job folder.
- ``fail``: params ``{"user": bool}``; raises a JobError (user=True) or an unexpected RuntimeError.
"""

from __future__ import annotations

import json
import time

from backend.jobs.registry import JobContext, JobError, register_job


def count_job(params: dict, ctx: JobContext) -> dict:
    n = int(params.get("n", 10))
    delay = float(params.get("delay", 0.01))
    if n < 0 or n > 1_000_000 or not 0 <= delay <= 10:
        raise JobError(f"count: n={n}, delay={delay}; use 0 <= n <= 1e6 and 0 <= delay <= 10 s")
    for i in range(n):
        ctx.progress("count", i, n, f"step {i + 1} of {n}")
        time.sleep(delay)
    ctx.progress("count", n, n, "done")
    out = ctx.job_dir / "count.json"
    out.write_text(json.dumps({"n": n}))
    return {"count": out}


def fail_job(params: dict, ctx: JobContext) -> dict:
    ctx.progress("fail", 0, 1, "about to fail")
    if params.get("user", True):
        raise JobError("fail: this job always fails (test job)")
    raise RuntimeError("unexpected failure (test job)")


register_job("count", count_job)
register_job("fail", fail_job)
