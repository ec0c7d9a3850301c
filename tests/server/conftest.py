"""Fixtures for the server tests: a real backend subprocess (with the test job kinds) on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from blender_addon.backend_process import BackendProcess


def start_backend(repo_root: Path, job_root: Path, **kwargs) -> BackendProcess:
    proc = BackendProcess(python=sys.executable, repo_root=repo_root, job_root=job_root, device="cpu",
                          extra_env={"SMPLPIX_TEST_JOBS": "1"}, **kwargs)
    proc.start(timeout=120)
    return proc


@pytest.fixture(scope="module")
def backend(repo_root, tmp_path_factory):
    """One backend process shared by a test module; stopped (SIGTERM) at the end."""
    proc = start_backend(repo_root, tmp_path_factory.mktemp("jobs"))
    yield proc
    proc.stop()


@pytest.fixture()
def fresh_backend(repo_root, tmp_path):
    """A backend of the test's own (for tests that kill or shut it down)."""
    proc = start_backend(repo_root, tmp_path / "jobs")
    yield proc
    proc.stop()
