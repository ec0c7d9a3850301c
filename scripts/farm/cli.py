"""batch_convert's farm mode (``--workers N`` or ``--engine ray``): one job per input, each in OUT/<name>/."""

from __future__ import annotations

import sys
from pathlib import Path

from .engines import FarmError, Progress, run_local, run_ray
from .job import job_dirs

# batch_convert options that belong to the farm run, not to each input's job (they take one value).
FARM_OPTIONS = ("--out", "--summary", "--engine", "--workers", "--address")


def job_cli_args(argv: list[str], given_inputs: list[str]) -> list[str]:
    """The per-input job's options: ``argv`` without the inputs and the farm's own options."""
    out, skip = [], False
    for tok in argv:
        if skip:
            skip = False
            continue
        if tok in FARM_OPTIONS:
            skip = True
            continue
        if tok.split("=", 1)[0] in FARM_OPTIONS or tok in given_inputs:
            continue
        out.append(tok)
    return out


def run_farm(args, inputs: list[Path], summary_path: Path, argv: list[str]) -> int:
    """Run every input as its own job on the chosen engine; 0 only if all converted, 1 if any failed, 2 if the
    engine could not start (nothing run)."""
    inputs = [p.resolve() for p in inputs]
    cli_args = job_cli_args(argv, [str(p) for p in args.inputs])
    jobs = [(str(p), str(d)) for p, d in zip(inputs, job_dirs(args.out, inputs), strict=True)]
    try:
        if args.engine == "ray":
            from .engines import start_ray

            start_ray(args.address, args.workers or None)  # fails before anything is written
    except FarmError as exc:
        print(f"batch_convert: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    progress = Progress(summary_path, inputs, args.engine)
    if args.engine == "ray":
        run_ray(jobs, cli_args, progress, args.address, avatar=args.avatar, workers=args.workers or None)
    else:
        run_local(jobs, cli_args, progress, args.workers)
    results = list(progress.entries.values())
    ok = sum(r["ok"] for r in results)
    print(f"batch_convert: {ok}/{len(results)} converted ({sum(bool(r.get('skipped')) for r in results)} already "
          f"done); summary: {summary_path}", flush=True)
    return 0 if ok == len(results) else 1
