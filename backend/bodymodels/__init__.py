"""Body models behind one interface (:class:`~backend.bodymodels.base.BodyModel`): Anny (default, embedded) and
the SMPL family (SMPL-X, SMPL+H, SMPL, FLAME, MANO) from a user model folder; ``procedural`` is a built-in test body.

    model = load_body_model("anny")                                # offline, no files needed
    model = load_body_model("smplx", model_dir="~/models", gender="female", num_betas=16)
    out = model(model.zero_pose(batch=8))                          # BodyOutput(vertices, joints)
    model.rig_spec().save("rig.npz")                               # for the Blender add-on
"""

from __future__ import annotations

import os

import torch

from backend.bodymodels.base import BodyModel, BodyOutput
from blender_addon.core.names import ANNY_GENDER_PHENOTYPE, MODEL_NAMES

SMPL_FAMILY = ("smplx", "smplh", "smpl", "flame", "mano")
TEST_MODELS = ("procedural",)  # built-in bodies for tests and synthetic clips (not offered to users)


def load_body_model(name: str = "anny", model_dir: str | os.PathLike | None = None, gender: str = "neutral",
                    num_betas: int = 10, num_expression: int = 10, device: str | torch.device = "cpu",
                    **opts) -> BodyModel:
    """Build a body model.

    name: one of :data:`MODEL_NAMES` (or ``"procedural"``, the built-in test body). model_dir: folder (or file)
    with the SMPL-family model file; else ``$SMPLPIX_MODEL_DIR`` or ``opts['preference_dir']`` (the add-on preference) are searched.
    gender: 'neutral' | 'male' | 'female' (MANO: 'right' | 'left', or opts['side']).
    num_betas / num_expression: SMPL-family coefficient counts (Anny: 6 phenotype offsets, 52 facial actions).
    opts: Anny: ``phenotype={'gender': 0.3, ...}``, ``dtype``; SMPL family: ``dtype``, ``preference_dir``, ``side``.
    Anny's ``gender`` sets its gender phenotype unless ``phenotype`` does: male 0.0, neutral 0.5, female 1.0.
    A missing or bad model file raises :class:`blender_addon.core.model_registry.ModelFileError` with the fix.
    """
    if name == "procedural":  # eleven tubes, no files: backend/bodymodels/procedural.py
        from backend.bodymodels.procedural import ProceduralBody

        return ProceduralBody().to(device)
    if name not in MODEL_NAMES:
        from blender_addon.core.model_registry import ModelFileError

        raise ModelFileError(f"unknown body model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    if name == "anny":
        from backend.bodymodels.anny_model import AnnyBodyModel

        phenotype = dict(opts.get("phenotype") or {})
        genders = ANNY_GENDER_PHENOTYPE
        if gender not in genders:
            raise ValueError(f"gender must be one of {', '.join(genders)}, not {gender!r}")
        phenotype.setdefault("gender", genders[gender])
        return AnnyBodyModel(phenotype=phenotype, device=device, dtype=opts.get("dtype", torch.float32))
    from backend.bodymodels.smplx_family import SMPLFamilyModel

    return SMPLFamilyModel.from_folder(name, model_dir=model_dir, gender=gender, num_betas=num_betas,
                                       num_expression=num_expression, device=device, **opts)


__all__ = ["MODEL_NAMES", "SMPL_FAMILY", "TEST_MODELS", "BodyModel", "BodyOutput", "load_body_model"]
