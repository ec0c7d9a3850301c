"""Which body-model files each supported model needs, where users get them, and where we look for them.

Stdlib only: used by the backend and by the Blender add-on (preferences, error messages).

Resolution order for a model folder: the explicit argument (CLI ``--model-dir``), the environment variable
``SMPLPIX_MODEL_DIR``, then the add-on preference (passed in by the caller). In each folder a file is looked for
directly and in a sub-folder named after the model (``<dir>/smplx/SMPLX_NEUTRAL.npz``, smplx's own layout).
A missing or unreadable file raises :class:`ModelFileError` naming the file, every place looked, and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

ENV_VAR = "SMPLPIX_MODEL_DIR"


class ModelFileError(FileNotFoundError):
    """A body-model file is missing, truncated or has the wrong content. The message says how to fix it."""


@dataclasses.dataclass(frozen=True)
class ModelFileSpec:
    """One supported body model and the files that provide it.

    ``files`` maps a variant (gender, or hand side for MANO) to the accepted file names, best first.
    ``sha256`` maps a file name to its known checksum (checked when present).
    """

    model: str
    title: str
    url: str
    licence: str
    files: dict[str, tuple[str, ...]]
    embedded: bool = False  # shipped with a Python package; no file to download
    sha256: dict[str, str] = dataclasses.field(default_factory=dict)
    note: str = ""

    def variants(self) -> tuple[str, ...]:
        return tuple(self.files)


_GENDERED = ("neutral", "male", "female")  # file variants, best first (the names: core.names.GENDERS)

MODEL_FILES: dict[str, ModelFileSpec] = {
    "anny": ModelFileSpec(
        model="anny", title="Anny (NAVER LABS)", url="https://github.com/naver/anny",
        licence="Apache-2.0 (code) / CC0 (MakeHuman-derived assets)", files={}, embedded=True,
        note="Installed with the `anny` Python package; works offline."),
    "smplx": ModelFileSpec(
        model="smplx", title="SMPL-X", url="https://smpl-x.is.tue.mpg.de",
        licence="SMPL-X Model License (non-commercial scientific research only; register to download)",
        files={g: (f"SMPLX_{g.upper()}.npz", f"SMPLX_{g.upper()}.pkl") for g in _GENDERED},
        note="Download 'SMPL-X v1.1 (NPZ+PKL)' and unzip the models/smplx folder."),
    "smplh": ModelFileSpec(
        model="smplh", title="SMPL+H", url="https://mano.is.tue.mpg.de",
        licence="MANO/SMPL+H License (non-commercial scientific research only; register to download)",
        files={g: (f"SMPLH_{g.upper()}.pkl", f"SMPLH_{g.upper()}.npz", f"{g}/model.npz") for g in _GENDERED},
        note="Download 'Extended SMPL+H model' (AMASS's smplh/<gender>/model.npz layout also works)."),
    "smpl": ModelFileSpec(
        model="smpl", title="SMPL", url="https://smpl.is.tue.mpg.de",
        licence="SMPL Model License (non-commercial scientific research only; register to download)",
        files={"neutral": ("SMPL_NEUTRAL.pkl", "SMPL_NEUTRAL.npz", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"),
               "male": ("SMPL_MALE.pkl", "SMPL_MALE.npz", "basicmodel_m_lbs_10_207_0_v1.0.0.pkl"),
               "female": ("SMPL_FEMALE.pkl", "SMPL_FEMALE.npz", "basicModel_f_lbs_10_207_0_v1.0.0.pkl")}),
    "flame": ModelFileSpec(
        model="flame", title="FLAME", url="https://flame.is.tue.mpg.de",
        licence="FLAME License (non-commercial scientific research only; register to download)",
        files={"neutral": ("FLAME_NEUTRAL.pkl", "generic_model.pkl", "flame2023.pkl", "FLAME_NEUTRAL.npz"),
               "male": ("FLAME_MALE.pkl", "male_model.pkl"),
               "female": ("FLAME_FEMALE.pkl", "female_model.pkl")},
        note="FLAME 2020 'generic_model.pkl' or FLAME 2023 'flame2023.pkl'."),
    "mano": ModelFileSpec(
        model="mano", title="MANO", url="https://mano.is.tue.mpg.de",
        licence="MANO License (non-commercial scientific research only; register to download)",
        files={"right": ("MANO_RIGHT.pkl", "MANO_RIGHT.npz"), "left": ("MANO_LEFT.pkl", "MANO_LEFT.npz")},
        note="Download 'Models & Code' and use mano_v*/models/MANO_RIGHT.pkl / MANO_LEFT.pkl."),
}


def model_spec(model: str) -> ModelFileSpec:
    """The :class:`ModelFileSpec` of ``model``; an unknown name raises ModelFileError listing the known ones."""
    try:
        return MODEL_FILES[model]
    except KeyError:
        raise ModelFileError(f"unknown body model {model!r}; choose one of {', '.join(MODEL_FILES)}") from None


def search_dirs(model_dir: str | os.PathLike | None = None, preference_dir: str | os.PathLike | None = None,
                env: dict | None = None) -> list[tuple[Path, str]]:
    """Folders to look in, in order, each with where it came from (for error messages)."""
    env = os.environ if env is None else env
    out: list[tuple[Path, str]] = []
    for value, origin in ((model_dir, "--model-dir"), (env.get(ENV_VAR) or None, f"${ENV_VAR}"),
                          (preference_dir, "add-on preference 'Model folder'")):
        if value:
            path = Path(value).expanduser()
            if all(path != p for p, _ in out):
                out.append((path, origin))
    return out


def how_to_get(model: str) -> str:
    """One paragraph: where to download ``model`` and where to put it."""
    spec = model_spec(model)
    if spec.embedded:
        return f"{spec.title} ships with its Python package: install the backend environment (scripts/setup_env.sh)."
    text = (f"Get {spec.title} from {spec.url} (licence: {spec.licence}). {spec.note} "
            f"Put the file in a folder and pass it with --model-dir DIR, set ${ENV_VAR}=DIR, or set the "
            "add-on preference 'Model folder'. Model files are never bundled.")
    return text.replace("  ", " ")


def candidate_paths(model: str, variant: str, folders: list[tuple[Path, str]]) -> list[Path]:
    """Every path a file of ``model``/``variant`` may have in ``folders``, in search order."""
    spec = model_spec(model)
    names = spec.files.get(variant)
    if names is None:
        raise ModelFileError(f"{spec.title} has no variant {variant!r}; choose one of {', '.join(spec.files)}")
    out = []
    for folder, _ in folders:
        for sub in (folder, folder / model):
            out.extend(sub / name for name in names)
    return out


def resolve_model_file(model: str, variant: str = "neutral", model_dir: str | os.PathLike | None = None,
                       preference_dir: str | os.PathLike | None = None, env: dict | None = None) -> Path:
    """The file providing ``model`` (``variant``: gender, or 'right'/'left' for MANO).

    ``model_dir`` may also be a file path, used as is. Raises :class:`ModelFileError` if nothing is found.
    """
    spec = model_spec(model)
    if spec.embedded:
        raise ModelFileError(f"{spec.title} needs no model file")
    if model_dir is not None and Path(model_dir).expanduser().is_file():
        return Path(model_dir).expanduser()
    folders = search_dirs(model_dir, preference_dir, env)
    names = spec.files.get(variant)
    if names is None:
        raise ModelFileError(f"{spec.title} has no variant {variant!r}; choose one of {', '.join(spec.files)}")
    if not folders:
        raise ModelFileError(f"{spec.title} model file {names[0]} not found: no model folder is set. "
                             + how_to_get(model))
    paths = candidate_paths(model, variant, folders)
    for path in paths:
        if path.is_file():
            check_sha256(model, path)
            return path
    looked = "\n".join(f"  - {p}" for p in paths)
    origins = ", ".join(f"{p} ({o})" for p, o in folders)
    raise ModelFileError(f"{spec.title} model file {' or '.join(names)} not found in {origins}. Looked for:\n"
                         f"{looked}\n{how_to_get(model)}")


def check_sha256(model: str, path: Path) -> None:
    """Raise ModelFileError if ``path`` has a known checksum and does not match it."""
    expected = model_spec(model).sha256.get(path.name)
    if not expected:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ModelFileError(f"{path}: checksum mismatch (damaged or a different release). Download it again. "
                             + how_to_get(model))
