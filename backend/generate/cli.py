"""``python -m backend generate random | interpolate | reroll``.

    python -m backend generate random --count 8 --seed 1 --out humans/ [--model anny] [--age 18:70]
        [--fix shape detail face pose] [--frames 60] [--fps 30] [--motion FILE ...] [--detail LAYER.npz[:SCALE] ...]
    python -m backend generate interpolate humans/human_000.json humans/human_001.json --frames 120 --out interp/
    python -m backend generate reroll humans/human_000.json --factor pose --seed 7 --out humans/
    python -m backend generate rebuild edited_human.json --out edited/     # a hand-edited record, as it is

Bad input (impossible ranges, unknown factors, a detail layer of another topology, a missing record) prints one
line and exits with code 2 before anything is written.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _scan_layers(items: list[str] | None) -> tuple[tuple[str, float], ...]:
    out = []
    for item in items or []:
        path, scale = item, 1.0
        head, sep, tail = item.rpartition(":")
        if sep and not Path(item).is_file():
            try:
                path, scale = head, float(tail)
            except ValueError:
                raise ValueError(f"--detail {item!r}: write LAYER.npz or LAYER.npz:SCALE") from None
        out.append((path, scale))
    return tuple(out)


def _check_inputs(opts, model: str) -> None:
    """Everything the user named exists and fits the model, before any work starts."""
    from backend.bodymodels.detail import DetailLayer

    for path, _ in opts.scan_layers:
        layer = DetailLayer.load(path)
        if layer.model != model:
            raise ValueError(f"{path}: detail layer made for {layer.model}; this run builds {model} bodies")
    for path in opts.motion_files:
        if str(path).startswith("walkcycle:"):
            from backend.generate.motion_sources import check_walkcycle

            check_walkcycle(str(path), model)
        elif not Path(path).exists():
            raise ValueError(f"{path}: no such motion file; pass a motion .npz, AMASS .npz or .smpl file")


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser("generate", help="random and interpolated humans with per-factor control")
    sub = parser.add_subparsers(dest="generate_command", required=True)

    p = sub.add_parser("random", help="N random humans: RigSpec + motion + humans.json")
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="anny", choices=("anny", "smplx", "smplh", "smpl"))
    p.add_argument("--model-dir", default=None, help="folder with SMPL-family model files")
    p.add_argument("--gender", default="neutral", help="SMPL-family model file gender")
    p.add_argument("--age", default="18:70", help="age range in years, LOW:HIGH (Anny)")
    p.add_argument("--fix", nargs="*", default=[], metavar="FACTOR", help="factors every human shares: "
                   "shape detail face pose")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--motion", nargs="*", default=[], metavar="FILE", help="motion files the pose factor draws from; walkcycle:NAME for one of Anny's walk cycles")
    p.add_argument("--detail", nargs="*", default=[], metavar="LAYER[:SCALE]", help="scan detail layers to add")
    p.set_defaults(handler=_guarded(_random))

    p = sub.add_parser("interpolate", help="a motion morphing from human A to human B")
    p.add_argument("a", help="human_NNN.json or humans.json:INDEX")
    p.add_argument("b")
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--fps", type=float, default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--name", default="interp")
    p.add_argument("--model-dir", default=None)
    p.set_defaults(handler=_guarded(_interpolate))

    p = sub.add_parser("reroll", help="draw one factor of a human again")
    p.add_argument("record", help="human_NNN.json or humans.json:INDEX")
    p.add_argument("--factor", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--model-dir", default=None)
    p.set_defaults(handler=_guarded(_reroll))

    p = sub.add_parser("rebuild", help="write a human from its record's factor values (e.g. after editing them)")
    p.add_argument("record", help="human_NNN.json or humans.json:INDEX")
    p.add_argument("--out", required=True)
    p.add_argument("--name", default=None)
    p.add_argument("--model-dir", default=None)
    p.set_defaults(handler=_guarded(_rebuild))


def _guarded(fn):
    def run(args) -> int:
        from backend.bodymodels.detail import DetailError
        from blender_addon.core.model_registry import ModelFileError
        from blender_addon.core.motion import MotionError
        from blender_addon.core.rigspec import RigSpecError

        try:
            return fn(args)
        except (ModelFileError, RigSpecError, MotionError, DetailError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


def _random(args) -> int:
    from backend.generate.batch import generate_random
    from backend.generate.human import GenerateOptions
    from backend.generate.prior import AGE_LIMITS_YEARS, parse_range

    opts = GenerateOptions(model=args.model, seed=args.seed, age_range=parse_range(args.age, "--age", AGE_LIMITS_YEARS),
                           fix=tuple(args.fix), frames=args.frames, fps=args.fps, motion_files=tuple(args.motion),
                           scan_layers=_scan_layers(args.detail), gender=args.gender)
    opts.check()
    if args.count < 1:
        raise ValueError(f"--count {args.count}: ask for at least one human")
    _check_inputs(opts, args.model)
    path = generate_random(args.count, opts, args.out, model_dir=args.model_dir)
    print(path)
    return 0


def _interpolate(args) -> int:
    from backend.generate.interpolate import interpolate

    files = interpolate(args.a, args.b, args.frames, args.out, fps=args.fps, model_dir=args.model_dir, name=args.name)
    print(files["record"])
    return 0


def _reroll(args) -> int:
    from backend.generate.batch import load_record, reroll

    record, _ = load_record(args.record)
    new = reroll(record, args.factor, args.seed, args.out, model_dir=args.model_dir)
    print(Path(args.out) / f"{new['name']}.json")
    return 0


def _rebuild(args) -> int:
    from backend.generate.batch import load_record, rebuild

    record, _ = load_record(args.record)
    new = rebuild(record, args.out, name=args.name, model_dir=args.model_dir)
    print(Path(args.out) / f"{new['name']}.json")
    return 0
