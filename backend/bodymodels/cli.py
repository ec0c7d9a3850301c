"""``python -m backend bodymodel info | export-rig | models | warmup``.

    python -m backend bodymodel info --model anny [--json]
    python -m backend bodymodel export-rig --model smplx --model-dir DIR --gender female --betas 16 -o rig.npz
    python -m backend bodymodel export-rig --model anny --phenotype gender=0.3 age=0.6 -o rig.npz
    python -m backend bodymodel models --model-dir DIR      # which model files are found, where to get the others
    python -m backend bodymodel warmup

Bad input (missing model file, unknown phenotype...) prints one clear message and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

log = logging.getLogger(__name__)


def _parse_phenotype(items: list[str] | None) -> dict[str, float]:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--phenotype expects NAME=VALUE (e.g. gender=0.3), got {item!r}") from None
    return out


def _add_model_args(p: argparse.ArgumentParser) -> None:
    from blender_addon.core.names import MODEL_NAMES  # torch-free: the CLI starts fast

    p.add_argument("--model", default="anny", choices=MODEL_NAMES, help="body model (default: anny)")
    p.add_argument("--model-dir", default=None, help="folder (or file) with SMPL-family model files; "
                   "else $SMPLPIX_MODEL_DIR")
    p.add_argument("--gender", default="neutral", help="neutral | male | female (MANO: right | left)")
    p.add_argument("--betas", type=int, default=10, help="number of shape coefficients (SMPL family)")
    p.add_argument("--expressions", type=int, default=10, help="number of expression coefficients (SMPL-X, FLAME)")
    p.add_argument("--phenotype", nargs="*", metavar="NAME=VALUE",
                   help="Anny phenotype values in [0, 1], e.g. gender=0.3 age=0.6 weight=0.7")


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser("bodymodel", help="inspect body models and export rigs for Blender")
    sub = parser.add_subparsers(dest="bodymodel_command", required=True)

    p = sub.add_parser("info", help="joints, vertices, faces and blendshape counts of a body model")
    _add_model_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_guarded(_info))

    p = sub.add_parser("export-rig", help="write the RigSpec .npz the Blender add-on builds a rig from")
    _add_model_args(p)
    p.add_argument("-o", "--output", required=True, help="output .npz")
    p.set_defaults(handler=_guarded(_export_rig))

    p = sub.add_parser("models", help="supported models: where to get them, licence, and whether a file is found")
    p.add_argument("--model-dir", default=None, help="folder with SMPL-family model files; else $SMPLPIX_MODEL_DIR")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_guarded(_models))

    p = sub.add_parser("warmup", help="build Anny once and cache its RigSpec (tests and setup pay once)")
    p.add_argument("--phenotype", nargs="*", metavar="NAME=VALUE")
    p.set_defaults(handler=_guarded(_warmup))


def _guarded(fn):
    """Turn expected errors into one line on stderr and exit code 2."""

    def run(args) -> int:
        from blender_addon.core.rigspec import RigSpecError
        from blender_addon.core.model_registry import ModelFileError

        try:
            return fn(args)
        except (ModelFileError, RigSpecError, ValueError, TypeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


def _rig_spec(args):
    """(RigSpec, model) for the parsed arguments; Anny's default body comes from the cache."""
    from backend.bodymodels import load_body_model

    phenotype = _parse_phenotype(getattr(args, "phenotype", None))
    if args.model == "anny":
        from backend.bodymodels.anny_model import AnnyBodyModel
        from backend.bodymodels.rig_cache import cached_anny_rig
        from blender_addon.core.rigspec import RigSpec

        model = AnnyBodyModel(phenotype=phenotype)  # validates phenotype names before anything is written
        if phenotype:
            return model.rig_spec(), model
        return RigSpec.load(cached_anny_rig(model=model)), model
    model = load_body_model(args.model, model_dir=args.model_dir, gender=args.gender, num_betas=args.betas,
                            num_expression=args.expressions)
    return model.rig_spec(), model


def _info(args) -> int:
    spec, model = _rig_spec(args)
    info = dict(spec.summary())
    info.update(forward_shape=model.num_shape, forward_expression=model.num_expression,
                shape_names=list(spec.shape_names), expression_names=list(spec.expr_names),
                parameters=dict(zip(spec.param_names, (float(v) for v in spec.param_defaults))),
                source=str(getattr(model, "source", "embedded")))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key in ("model", "gender", "joints", "vertices", "faces", "shape_blendshapes", "expression_blendshapes",
                    "pose_correctives", "uvs", "up_axis", "source"):
            print(f"{key:24s}{info[key]}")
        if info["parameters"]:
            print(f"{'parameters':24s}" + ", ".join(f"{k}={v:.2f}" for k, v in info["parameters"].items()))
    return 0


def _export_rig(args) -> int:
    spec, _ = _rig_spec(args)
    path = spec.save(args.output)
    print(path)
    return 0


def _models(args) -> int:
    from blender_addon.core.model_registry import MODEL_FILES, ModelFileError, resolve_model_file

    rows = []
    for name, spec in MODEL_FILES.items():
        found = {}
        for variant in spec.variants():
            try:
                found[variant] = str(resolve_model_file(name, variant, model_dir=args.model_dir))
            except ModelFileError:
                found[variant] = None
        rows.append({"model": name, "title": spec.title, "embedded": spec.embedded, "url": spec.url,
                     "licence": spec.licence, "files": found})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        status = "embedded" if row["embedded"] else ", ".join(
            f"{v}: {p or 'missing'}" for v, p in row["files"].items())
        print(f"{row['model']:7s}{row['title']:20s}{status}")
        if not row["embedded"]:
            print(f"{'':27s}get it from {row['url']} ({row['licence']})")
    return 0


def _warmup(args) -> int:
    from backend.bodymodels.rig_cache import cached_anny_rig

    path = cached_anny_rig(_parse_phenotype(args.phenotype))
    print(path)
    logging.getLogger(__name__).info("Anny RigSpec cached at %s", path)
    return 0
