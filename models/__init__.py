"""Body-model file registry (stdlib only): expected files, download places, licences, path resolution."""

from models.registry import (
    ENV_VAR,
    MODEL_FILES,
    ModelFileError,
    ModelFileSpec,
    candidate_paths,
    how_to_get,
    model_spec,
    resolve_model_file,
    search_dirs,
)

__all__ = [
    "ENV_VAR", "MODEL_FILES", "ModelFileError", "ModelFileSpec", "candidate_paths", "how_to_get", "model_spec",
    "resolve_model_file", "search_dirs",
]
