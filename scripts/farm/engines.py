"""Run many per-input jobs (:func:`job.run_job`) on a local process pool or as Ray tasks, streaming each finished
input into the same ``summary.json`` (rewritten atomically after every input).

Ray: ``address`` None starts a local cluster on this machine; ``ray://host:port`` connects to a running one
(checked with a plain TCP connect first, so an unreachable address fails at once with nothing started). Each task
asks for ``num_cpus=1`` and ``num_gpus`` (1 for avatar jobs, 0.25 for video estimation, 0 for motion files, when
the cluster has GPUs); a task whose worker dies is retried (``max_retries``), and the job's done-marker makes a
retried or rerun input safe.
"""

from __future__ import annotations

import json
import os
import socket
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from urllib.parse import urlparse

from .job import REPO, run_job, write_json


class FarmError(RuntimeError):
    """The engine could not start (bad address, missing package); nothing was run."""


class Progress:
    """The summary.json of a farm run, rewritten after each input."""

    def __init__(self, path: Path, inputs: list[Path], engine: str) -> None:
        self.path, self.engine, self.started = path, engine, time.time()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.entries = {str(p): {"input": str(p), "ok": False, "state": "pending"} for p in inputs}
        self.write()

    def update(self, entry: dict) -> None:
        entry = {**entry, "state": "skipped" if entry.get("skipped") else ("done" if entry["ok"] else "failed")}
        self.entries[entry["input"]] = entry
        self.write()
        print("SMPLPIX_BATCH " + json.dumps({k: entry.get(k) for k in ("input", "state", "error", "outputs")
                                             if k in entry}), flush=True)

    def write(self) -> None:
        results = list(self.entries.values())
        ok = sum(r["ok"] for r in results)
        failed = sum(r.get("state") == "failed" for r in results)
        write_json(self.path, {"ok": ok == len(results), "engine": self.engine, "converted": ok, "failed": failed,
                               "pending": len(results) - ok - failed, "started": self.started,
                               "seconds": round(time.time() - self.started, 3), "inputs": results})


def run_local(jobs: list[tuple[str, str]], cli_args: list[str], progress: Progress, workers: int) -> None:
    """jobs: (input, folder) pairs, on ``workers`` local processes."""
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(run_job, inp, folder, cli_args): inp for inp, folder in jobs}
        for fut in as_completed(futures):
            try:
                progress.update(fut.result())
            except Exception as exc:  # the worker process died: report it, keep the others
                progress.update({"input": futures[fut], "ok": False, "error": f"worker failed: {exc}"})


def check_address(address: str, timeout: float = 3.0) -> None:
    """Raise FarmError unless ``ray://host:port`` (or ``host:port``) accepts a TCP connection."""
    url = urlparse(address if "://" in address else f"ray://{address}")
    if not url.hostname or not url.port:
        raise FarmError(f"--address {address!r}: use ray://HOST:PORT (the Ray client port, 10001 by default)")
    try:
        socket.create_connection((url.hostname, url.port), timeout=timeout).close()
    except OSError as exc:
        raise FarmError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it with "
                        "`ray start --head --ray-client-server-port PORT` or drop --address to run locally. "
                        "Nothing was started.") from None


def gpus_for(path: str, avatar: bool, cluster_gpus: float) -> float:
    if cluster_gpus <= 0:
        return 0.0
    video = Path(path).suffix.lower() in (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
    return 1.0 if (video and avatar) else (0.25 if video else 0.0)


def start_ray(address: str | None, num_cpus: int | None = None):
    try:
        import ray
    except ImportError:
        raise FarmError("--engine ray needs the ray package: pip install -e '.[farm]'") from None
    if address:
        check_address(address)
    path = [str(REPO), str(REPO / "scripts"), os.environ.get("PYTHONPATH", "")]
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(path).rstrip(os.pathsep)}}
    if not ray.is_initialized():
        kwargs = {"address": address} if address else {"num_cpus": num_cpus, "include_dashboard": False}
        ray.init(runtime_env=env, log_to_driver=False, **kwargs)
    return ray


def run_ray(jobs: list[tuple[str, str]], cli_args: list[str], progress: Progress, address: str | None = None,
            avatar: bool = False, workers: int | None = None, max_retries: int = 3) -> None:
    """The same jobs as Ray tasks; results stream into ``progress`` as they finish."""
    ray = start_ray(address, workers)
    cluster_gpus = float(ray.cluster_resources().get("GPU", 0.0))
    remote = ray.remote(run_job)
    refs = {}
    for inp, folder in jobs:
        task = remote.options(num_cpus=1, num_gpus=gpus_for(inp, avatar, cluster_gpus), max_retries=max_retries,
                              retry_exceptions=False)
        refs[task.remote(inp, folder, cli_args)] = inp
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        try:
            progress.update(ray.get(done[0]))
        except Exception as exc:  # retries exhausted (worker lost every time) or a bug
            progress.update({"input": refs[done[0]], "ok": False, "error": f"task failed: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}"})
