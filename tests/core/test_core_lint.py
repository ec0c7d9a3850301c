"""House style: the whole tree passes ruff (line length 120, the rules in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_ruff_is_clean(repo_root: Path):
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (it comes with the `test` extra)")
    r = subprocess.run([ruff, "check", "backend", "blender_addon", "models", "scripts", "tests"], cwd=repo_root,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
