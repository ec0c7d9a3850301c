"""Random humans and their files: ``human_NNN.npz`` (RigSpec), ``human_NNN.motion.npz``, ``human_NNN.json`` (one
record) and ``humans.json`` (all records), so any human can be regenerated or edited factor by factor.

A record: {"version", "name", "index", "model", "seed", "frames", "fps", "options", "factors": {shape, detail,
face, pose}, "measures": {height_m, floor_lift_m, ...}, "files": {"rig", "motion"}} (file names relative to the
record's folder).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from backend.generate.human import FACTORS, GenerateOptions, make_generator, realise, sample_factor, sample_human
from backend.runtime import torch_threads

log = logging.getLogger(__name__)
RECORD_VERSION = 1
Progress = Callable[[int, int, str], None]


def write_json_atomic(path: Path, data: dict) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)
    return path


def _options_record(opts: GenerateOptions) -> dict:
    d = dataclasses.asdict(opts)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def write_human(out: Path, name: str, generator, opts: GenerateOptions, index: int, factors: dict,
                cache: dict) -> dict:
    """Realise one human's factors and write its RigSpec, motion and record into ``out``; returns the record."""
    rig, motion, measures = realise(generator, factors, opts.frames, opts.fps, cache)
    rig_path = rig.save(out / f"{name}.npz")
    motion_path = motion.save(out / f"{name}.motion.npz")
    record = {"version": RECORD_VERSION, "name": name, "index": index, "model": opts.model, "seed": opts.seed,
              "frames": opts.frames, "fps": opts.fps, "options": _options_record(opts), "factors": factors,
              "measures": measures, "files": {"rig": rig_path.name, "motion": motion_path.name}}
    write_json_atomic(out / f"{name}.json", record)
    return record


@torch_threads(1)  # the same bytes on any machine: results must not depend on the core count
def generate_random(count: int, opts: GenerateOptions, out: str | Path, model_dir: str | None = None,
                    progress: Progress | None = None, generator=None) -> Path:
    """Write ``count`` random humans into ``out``; returns the path of ``humans.json``."""
    opts.check()
    if count < 1:
        raise ValueError(f"count is {count}; ask for at least one human")
    generator = generator or make_generator(opts.model, model_dir, opts.gender)
    check_inputs(opts, generator)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache: dict = {}
    records = []
    for i in range(count):
        if progress:
            progress(i, count, f"human {i + 1} of {count}")
        factors = sample_human(generator, opts, i, count)
        records.append(write_human(out, f"human_{i:03d}", generator, opts, i, factors, cache))
        log.info("human_%03d: %.3f m, %s", i, records[-1]["measures"]["height_m"], factors["pose"]["source"])
    path = write_json_atomic(out / "humans.json", {"version": RECORD_VERSION, "model": opts.model, "seed": opts.seed,
                                                   "count": count, "options": _options_record(opts),
                                                   "humans": records})
    if progress:
        progress(count, count, f"{count} humans in {out}")
    return path


def check_inputs(opts: GenerateOptions, generator) -> None:
    """Every scan detail layer is readable and of this body's topology, every motion file readable and of this
    body model (before any human is made)."""
    from backend.bodymodels.detail import DetailLayer
    from backend.generate.motion_sources import WALKCYCLE_PREFIX, MotionSourceError, check_walkcycle
    from blender_addon.core.readers import read_motion

    for path, _ in opts.scan_layers:
        DetailLayer.load(path).check_body(generator.model, generator.num_vertices, str(path))
    for path in opts.motion_files:
        if str(path).startswith(WALKCYCLE_PREFIX):
            check_walkcycle(str(path), generator.model)
            continue
        model = read_motion(path).model
        if model != generator.model:
            raise MotionSourceError(f"{path}: a {model} motion cannot drive {generator.model} bodies; pass "
                                    f"{generator.model} motions or use --model {model}")


class RecordError(ValueError):
    """A human record (human_NNN.json / humans.json[:INDEX]) is missing or malformed; the message says the fix."""


def load_record(spec: str | Path) -> tuple[dict, Path]:
    """``human_003.json``, ``humans.json`` (one human) or ``humans.json:3`` -> (record, its folder)."""
    text = str(spec)
    path, index = Path(text), None
    if not path.is_file() and ":" in text:
        head, _, tail = text.rpartition(":")
        if tail.isdigit():
            path, index = Path(head), int(tail)
    if not path.is_file():
        raise RecordError(f"{path}: no such human record; give a human_NNN.json or humans.json[:INDEX] written by "
                          "`python -m backend generate random`")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: not a readable human record ({exc})") from exc
    if isinstance(data, dict) and "humans" in data:
        humans = data["humans"]
        if index is None and len(humans) != 1:
            raise RecordError(f"{path} holds {len(humans)} humans; pick one as {path}:INDEX (0..{len(humans) - 1})")
        if index is not None and not 0 <= index < len(humans):
            raise RecordError(f"{path} holds {len(humans)} humans; index {index} is not in 0..{len(humans) - 1}")
        data = humans[index or 0]
    if not isinstance(data, dict) or set(FACTORS) - set(data.get("factors", {})):
        raise RecordError(f"{path}: a human record needs factors {list(FACTORS)}")
    return data, path.parent


def options_of(record: dict) -> GenerateOptions:
    o = dict(record.get("options", {}))
    for key in ("age_range", "fix", "motion_files"):
        if key in o:
            o[key] = tuple(o[key])
    if "scan_layers" in o:
        o["scan_layers"] = tuple(tuple(x) for x in o["scan_layers"])
    return GenerateOptions(**o)


@torch_threads(1)  # the same bytes on any machine: results must not depend on the core count
def rebuild(record: dict, out: str | Path, name: str | None = None, generator=None,
            model_dir: str | None = None) -> dict:
    """Realise a (possibly hand-edited) record as it is: its factors' values, not their streams, decide the body
    (for Anny the ``phenotype`` values; ``target_height_m`` is only a note)."""
    opts = options_of(record)
    generator = generator or make_generator(opts.model, model_dir, opts.gender)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return write_human(out, name or record["name"], generator, opts, int(record["index"]), dict(record["factors"]),
                       {})


@torch_threads(1)  # the same bytes on any machine: results must not depend on the core count
def reroll(record: dict, factor: str, seed: int, out: str | Path, name: str | None = None, generator=None,
           model_dir: str | None = None) -> dict:
    """A copy of ``record`` with one factor drawn again from stream (seed, index); written into ``out``."""
    if factor not in FACTORS:
        raise RecordError(f"unknown factor {factor!r}; re-roll one of {' | '.join(FACTORS)}")
    opts = options_of(record)
    generator = generator or make_generator(opts.model, model_dir, opts.gender)
    factors = dict(record["factors"])
    factors[factor] = sample_factor(generator, opts, factor, (int(seed), int(record["index"])))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return write_human(out, name or f"{record['name']}_{factor}{seed}", generator, opts, int(record["index"]),
                       factors, {})
