"""On-disk cache of exported RigSpecs (Anny takes seconds to build; its RigSpec loads in milliseconds).

Cache folder: ``$SMPLPIX_CACHE_DIR`` or ``~/.cache/smplpix-studio`` (read when called, never at import). Entries
are keyed by the anny version, the RigSpec version, this adapter's version and the options.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from blender_addon.core.rigspec import RIGSPEC_VERSION, RigSpec, RigSpecError

log = logging.getLogger(__name__)

ADAPTER_VERSION = 1  # bump when the exported content of a RigSpec changes (the adapter's source is hashed too)


def _source_digest() -> str:
    """Hash of the code that shapes an exported Anny RigSpec, so an edited adapter never serves a stale cache."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha1()
    for name in ("anny_model.py", "bone_frames.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:12]


def cache_dir() -> Path:
    from backend.runtime import cache_root

    return cache_root()


def anny_rig_path(phenotype: dict[str, float] | None = None) -> Path:
    """Where the Anny RigSpec for ``phenotype`` is cached."""
    from backend.bodymodels.anny_model import anny_version

    version = anny_version()
    options = {"anny": version, "rigspec": RIGSPEC_VERSION, "adapter": ADAPTER_VERSION, "source": _source_digest(),
               "phenotype": {k: round(float(v), 6) for k, v in sorted((phenotype or {}).items())}}
    key = hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:12]
    return cache_dir() / f"anny-{version}-{key}.npz"


def cached_anny_rig(phenotype: dict[str, float] | None = None, model=None) -> Path:
    """Path of the cached Anny RigSpec for ``phenotype``, exporting it first if needed (``model``: an
    :class:`~backend.bodymodels.anny_model.AnnyBodyModel` to reuse)."""
    path = anny_rig_path(phenotype)
    if path.is_file():
        try:
            RigSpec.load(path)
            return path
        except RigSpecError as exc:
            log.warning("re-exporting damaged cache entry %s (%s)", path, exc)
    if model is None:
        from backend.bodymodels.anny_model import AnnyBodyModel

        model = AnnyBodyModel(phenotype=phenotype)
    log.info("exporting the Anny RigSpec to %s", path)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    model.rig_spec().save(tmp)
    os.replace(tmp, path)
    return path
