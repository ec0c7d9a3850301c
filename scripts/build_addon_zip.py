"""Build the installable Blender extension: ``dist/smplpix_studio-<version>.zip``.

The zip's root is the add-on package's content (``__init__.py``, ``core/``, ``ipc/``, ...) with
``blender_manifest.toml`` beside ``__init__.py``, as Blender 4.2+ expects. The version is checked against
pyproject.toml. Usage: ``python scripts/build_addon_zip.py [--out DIR]``; prints the zip's path.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "blender_addon"
SKIP_DIRS = {"__pycache__", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".part"}


def read_manifest(repo: Path = REPO) -> dict:
    manifest = tomllib.loads((repo / "blender_manifest.toml").read_text())
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    if manifest["version"] != project["version"]:
        raise SystemExit(f"blender_manifest.toml version {manifest['version']} != pyproject.toml version "
                         f"{project['version']}; make them equal")
    return manifest


def package_files(package: Path = PACKAGE) -> list[Path]:
    return sorted(p for p in package.rglob("*") if p.is_file() and not (set(p.relative_to(package).parts) & SKIP_DIRS)
                  and p.suffix not in SKIP_SUFFIXES)


def build_zip(out_dir: Path, repo: Path = REPO) -> Path:
    manifest = read_manifest(repo)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    tmp = target.with_name(target.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(repo / "blender_manifest.toml", "blender_manifest.toml")
        for path in package_files(repo / "blender_addon"):
            zf.write(path, path.relative_to(repo / "blender_addon").as_posix())
    tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output folder (default dist/)")
    args = parser.parse_args(argv)
    print(build_zip(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
