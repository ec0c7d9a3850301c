"""One idempotent per-input conversion job: INPUT -> OUT/<name>/ with a done-marker.

The job runs the same CLI as everything else (``scripts/batch_convert.py INPUT --out DIR ...``) in a subprocess,
into a private work folder per attempt, then moves the outputs into the input's own folder and writes
``done.json`` last (atomically). So:
- a rerun skips inputs whose ``done.json`` exists with the same options (``"skipped": true``);
- an interrupted job (killed machine, lost Ray worker) left no ``done.json``: the next attempt starts it again
  from scratch in a fresh work folder; a half-written attempt never mixes with a finished one;
- a failed input writes ``failed.json`` (its error) and is retried on the next run.
The conversion subprocess dies with its job process (Linux ``PR_SET_PDEATHSIG``), so a killed worker leaves no
orphan writing files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DONE, FAILED, RUNNING = "done.json", "failed.json", "running.json"


def job_dirs(out: Path, inputs: list[Path]) -> list[Path]:
    """Distinct folders per input: OUT/<stem>, or OUT/<stem>-<hash> when stems collide."""
    stems = [p.stem for p in inputs]
    return [out / (p.stem if stems.count(p.stem) == 1 else
                   f"{p.stem}-{hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:8]}") for p in inputs]


def options_key(cli_args: list[str]) -> str:
    return hashlib.sha1(json.dumps(cli_args).encode()).hexdigest()[:16]


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def finished(folder: Path, key: str) -> dict | None:
    """The done record of a finished job with these options, else None."""
    try:
        record = json.loads((folder / DONE).read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("options") == key else None


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_job(input_path: str, folder: str, cli_args: list[str], python: str | None = None,
            timeout: float | None = None) -> dict:
    """Convert one input into ``folder``; returns its summary entry (``ok``, ``outputs`` or ``error``, ``seconds``,
    ``skipped``, ``attempt``). ``cli_args``: batch_convert options (formats, presets, model, device, retarget...)."""
    path, folder_p = Path(input_path), Path(folder)
    key = options_key([str(path.resolve()), *cli_args])
    record = finished(folder_p, key)
    if record is not None:
        return {**record["entry"], "skipped": True}
    folder_p.mkdir(parents=True, exist_ok=True)
    attempt = _next_attempt(folder_p)
    work = folder_p / f".work-{attempt}"
    for stale in folder_p.glob(".work-*"):  # left by an attempt that was killed (one attempt runs at a time)
        shutil.rmtree(stale, ignore_errors=True)
    write_json(folder_p / RUNNING, {"pid": os.getpid(), "attempt": attempt, "started": time.time(), "host":
                                    os.uname().nodename})
    t0 = time.monotonic()
    cmd = [python or sys.executable, str(REPO / "scripts" / "batch_convert.py"), str(path), "--out", str(work),
           *cli_args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(":")}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO),
                              preexec_fn=_die_with_parent)
        (folder_p / "log.txt").write_text(proc.stdout[-200_000:] + proc.stderr[-200_000:])
        entry = _entry_from(work / "summary.json", path, proc.returncode, proc.stderr)
    except subprocess.TimeoutExpired:
        entry = {"input": str(path), "ok": False, "error": f"{path.name}: timed out after {timeout} s"}
    entry.update(seconds=round(time.monotonic() - t0, 3), attempt=attempt, skipped=False)
    if entry["ok"]:
        entry["outputs"] = _publish(work, folder_p, entry.get("outputs", {}))
        write_json(folder_p / DONE, {"options": key, "entry": entry})
        (folder_p / FAILED).unlink(missing_ok=True)
    else:
        write_json(folder_p / FAILED, {"options": key, "entry": entry})
    shutil.rmtree(work, ignore_errors=True)
    (folder_p / RUNNING).unlink(missing_ok=True)
    return entry


def _next_attempt(folder: Path) -> int:
    try:
        return int(json.loads((folder / RUNNING).read_text())["attempt"]) + 1
    except (OSError, ValueError, KeyError):
        return 1


def _entry_from(summary: Path, path: Path, returncode: int, stderr: str) -> dict:
    try:
        data = json.loads(summary.read_text())
        entry = data["inputs"][0] if data.get("inputs") else {"ok": False, "error": data.get("error", "")}
    except (OSError, ValueError, KeyError, IndexError):
        tail = stderr.strip().splitlines()[-1:] or [f"exit code {returncode}"]
        entry = {"ok": False, "error": f"{path.name}: conversion stopped ({tail[0]})"}
    entry["input"] = str(path)
    return entry


def _publish(work: Path, folder: Path, outputs: dict) -> dict:
    """Move the attempt's outputs into the input's folder (replacing an older run's)."""
    moved = {}
    for role, src in outputs.items():
        src = Path(src)
        dst = folder / src.name
        if dst.is_dir():
            shutil.rmtree(dst)
        os.replace(src, dst)
        moved[role] = str(dst)
    return moved


def main(argv: list[str] | None = None) -> int:
    """``python scripts/farm/job.py (INPUT | --folder DIR --index N) --out OUT [-- batch_convert options]``: one
    input's job, for farm managers (Flamenco, Deadline/OpenJD) that run one task per input. ``--index`` is
    1-based over the folder's inputs in batch_convert's order (sorted). Exit 0 converted/skipped, 1 failed."""
    import argparse

    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(prog="job.py", description="Convert one input (idempotent, with a done-marker).")
    p.add_argument("input", nargs="?", type=Path)
    p.add_argument("--folder", type=Path, help="folder of inputs (with --index)")
    p.add_argument("--index", type=int, help="1-based index of the input in the folder")
    p.add_argument("--out", type=Path, required=True, help="output root: the input's folder is OUT/<name>")
    a = p.parse_args(argv)
    if a.input is None:
        if a.folder is None or a.index is None:
            p.error("give INPUT, or --folder DIR with --index N")
        sys.path.append(str(REPO / "scripts"))
        from batch_convert import expand_inputs

        inputs = expand_inputs([a.folder])
        if not 1 <= a.index <= len(inputs):
            p.error(f"--index {a.index}: {a.folder} holds {len(inputs)} inputs (1..{len(inputs)})")
        a.input = inputs[a.index - 1]
    if not a.input.is_file():
        p.error(f"{a.input}: no such file")
    entry = run_job(str(a.input.resolve()), str(job_dirs(a.out.resolve(), [a.input])[0]), extra)
    print(json.dumps(entry), flush=True)
    return 0 if entry["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
