"""Registers the ``estimate`` job kind (the server imports this module; the job lives in backend.jobs)."""

from backend.jobs.estimate_job import estimate_job  # noqa: F401  (registers on import)
