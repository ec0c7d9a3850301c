"""Shared pytest fixtures: paths, the ../shared data folder, and skips for optional hardware."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a clean skip on a fresh clone that has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present (fresh clone)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def jump_video(shared_data: Path) -> Path:
    path = shared_data / "jump_outdoor_1768x994_30fps.mp4"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    return path


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


os.environ.setdefault("SMPLPIX_TEST", "1")


# ---- body models (owner: backend/bodymodels) -------------------------------------------------------------------
# Session fixtures other areas use. Built once per session; the Anny RigSpec and the synthetic SMPL-family files
# are cached on disk (~/.cache/smplpix-studio or $SMPLPIX_CACHE_DIR), keyed by versions and options.


@pytest.fixture(scope="session")
def anny_rigspec_path() -> Path:
    """Path of the exported Anny RigSpec .npz (default phenotype), from the on-disk cache."""
    from backend.bodymodels.rig_cache import cached_anny_rig

    return cached_anny_rig()


@pytest.fixture(scope="session")
def anny_model():
    """The Anny BodyModel (float32, CPU, default phenotype). Shared: do not modify it."""
    from backend.bodymodels import load_body_model

    return load_body_model("anny")


@pytest.fixture(scope="session")
def synthetic_model_dir() -> Path:
    """A folder of SYNTHETIC SMPLX_NEUTRAL.npz, SMPLH_NEUTRAL.pkl, SMPL_NEUTRAL.pkl, FLAME_NEUTRAL.pkl (+ landmark
    embedding), MANO_RIGHT/LEFT.pkl with the released formats (see tests/bodymodels/synthetic_models.py)."""
    import hashlib
    import importlib.util
    import shutil

    from backend.bodymodels.rig_cache import cache_dir

    source = REPO / "tests" / "bodymodels" / "synthetic_models.py"
    spec = importlib.util.spec_from_file_location("bodymodels_synthetic_models", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = cache_dir() / f"synthetic-models-{hashlib.sha1(source.read_bytes()).hexdigest()[:12]}"
    if not (folder / "SYNTHETIC_MODELS_README.txt").is_file():
        tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
        module.write_synthetic_models(tmp)
        try:
            tmp.rename(folder)
        except OSError:  # another session wrote it first
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


# ---- Blender (PyPI bpy) -------------------------------------------------------------------------------------------


@pytest.fixture
def empty_scene():
    """A fresh, empty Blender file for each test (skipped without the bpy module)."""
    bpy = pytest.importorskip("bpy")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy.context.scene
    bpy.ops.wm.read_factory_settings(use_empty=True)
