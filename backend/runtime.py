"""The job-runtime convention every long backend step follows, whether the server, a CLI or a script runs it.

- **Progress**: ``progress(stage: str, done: int, total: int, message: str)`` (total 0: unknown).
- **Cancellation**: one :class:`CancelToken` per run; long loops call ``token.check()`` between batches (raises
  :class:`Cancelled`), or pass the token where a ``cancelled() -> bool`` callable is expected (it is one).
- **Cache folder**: :func:`cache_root` (``$SMPLPIX_CACHE_DIR`` or ``~/.cache/smplpix-studio``, read when called), so
  the CLI and the server share e.g. the detections cache (:func:`detections_cache`).
- **Outputs**: :func:`check_writable` before any long work, so a read-only output folder fails at once.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["CACHE_ENV", "CancelToken", "Cancelled", "Progress", "cache_root", "check_writable", "detections_cache"]

Progress = Callable[[str, int, int, str], None]
CACHE_ENV = "SMPLPIX_CACHE_DIR"


class Cancelled(Exception):
    """The run's owner asked to stop; raised at the next check."""


class CancelToken:
    """Set once by whoever owns the run (any thread); read by the run between its steps.

    ``token()`` is True once cancelled (so it fits ``cancelled: Callable[[], bool]`` parameters); ``token.check()``
    raises :class:`Cancelled` (or ``error(message)`` when given, e.g. the server's JobCancelled)."""

    def __init__(self, event: threading.Event | None = None, error: Callable[[str], Exception] | None = None) -> None:
        self._event = event or threading.Event()
        self._error = error or Cancelled

    def set(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __call__(self) -> bool:
        return self._event.is_set()

    def check(self, message: str = "cancelled") -> None:
        if self._event.is_set():
            raise self._error(message)


def cache_root(env: dict | None = None) -> Path:
    """``$SMPLPIX_CACHE_DIR`` or ``~/.cache/smplpix-studio`` (not created)."""
    env = os.environ if env is None else env
    return Path(env.get(CACHE_ENV) or Path.home() / ".cache" / "smplpix-studio")


def detections_cache(setting: str | Path | None = None) -> Path | None:
    """The detections cache folder: ``setting`` if given, none for ``"none"``, else ``cache_root()/detections``."""
    if setting is None or str(setting) == "":
        return cache_root() / "detections"
    return None if str(setting).lower() == "none" else Path(setting).expanduser()


def check_writable(folder: str | Path, what: str = "output folder") -> Path:
    """Create ``folder`` if needed and prove it is writable by creating (and removing) a temporary file in it (chmod
    bits are not enough: root ignores them). Raises OSError with one line naming the folder and the fix."""
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".smplpix-write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(f"{folder}: cannot write the {what} here ({exc.strerror or type(exc).__name__}); "
                              "choose a folder you can write to") from exc
    return folder


@contextlib.contextmanager
def torch_threads(count: int = 1) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads, then restore the previous count. One thread: small batched
    ops run faster on a shared CPU, and results do not depend on the machine's core count (reproducible output)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
