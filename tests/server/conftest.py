"""Fixtures for the server tests: real backend subprocesses (with the test job kinds) on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from blender_addon.ipc.backend_process import BackendProcess


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
def backend_factory(repo_root, tmp_path):
    """Start backends of the test's own (options as BackendProcess kwargs); all are stopped afterwards."""
    started = []

    def start(**kwargs) -> BackendProcess:
        proc = start_backend(repo_root, tmp_path / f"jobs{len(started)}", **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture()
def fresh_backend(backend_factory):
    """A backend of the test's own (for tests that kill or shut it down)."""
    return backend_factory()
