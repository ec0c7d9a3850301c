"""Start, watch and stop the backend process (``python -m backend.server``) with ``subprocess.Popen``.

bpy-free (stdlib only) so headless scripts and tests use exactly what the add-on uses. The token is a fresh random
secret per start, passed in the environment (``SMPLPIX_TOKEN``); the backend announces its port in one JSON ready
line on stdout; its log (stderr) goes to ``<job_root>/backend.log``.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

from .client import BackendClient, BackendError

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout this add-on lives in (when run from source)


def default_python(repo_root: Path = REPO_ROOT) -> Path:
    """The project's virtual environment interpreter next to the add-on's repository."""
    if sys.platform == "win32":
        return repo_root / ".venv" / "Scripts" / "python.exe"
    return repo_root / ".venv" / "bin" / "python"


class BackendProcess:
    """One backend process. ``start()`` blocks until the ready line (or raises BackendError with the log tail)."""

    def __init__(self, python: str | Path | None = None, repo_root: str | Path = REPO_ROOT,
                 job_root: str | Path | None = None, device: str = "auto", extra_env: dict | None = None,
                 unix_socket: str | None = None, extra_args: list[str] | tuple[str, ...] = ()) -> None:
        self.repo_root = Path(repo_root)
        self.python = Path(python) if python else default_python(self.repo_root)
        self.job_root = Path(job_root) if job_root else None
        self.device = device
        self.extra_env = dict(extra_env or {})
        self.unix_socket = unix_socket
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen | None = None
        self.token = ""
        self.ready: dict = {}
        self.log_path: Path | None = None

    # -- state ------------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def alive(self) -> bool:
        return self.running

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    @property
    def address(self) -> tuple[str, int] | str:
        if not self.ready:
            raise BackendError("the backend is not running; start it first")
        return self.ready["unix"] if self.ready.get("unix") else ("127.0.0.1", int(self.ready["port"]))

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.ready.get("kinds", ()))

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AttributeError):
            return ""

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> dict:
        """Start the backend and wait up to ``timeout`` s for its ready line; returns the ready record."""
        if self.running:
            return self.ready
        if not self.python.is_file():
            raise BackendError(f"backend Python {self.python} does not exist; run scripts/setup_env.sh in "
                               f"{self.repo_root} or set the backend Python in the add-on's preferences")
        if self.job_root is None:
            import tempfile

            self.job_root = Path(tempfile.mkdtemp(prefix="smplpix-jobs-"))
        self.job_root.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(24)
        env = dict(os.environ)
        env.update(self.extra_env)
        env["SMPLPIX_TOKEN"] = self.token
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.repo_root), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [str(self.python), "-m", "backend.server", "--device", self.device, "--job-root", str(self.job_root),
               "--parent-pid", str(os.getpid())]
        if self.unix_socket:
            cmd += ["--unix", self.unix_socket]
        cmd += self.extra_args
        self.log_path = self.job_root / "backend.log"
        log_file = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, cwd=str(self.repo_root), env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=log_file)
        finally:
            log_file.close()
        self.ready = {}
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=_pump, args=(self.proc.stdout, lines), name="smplpix-backend-stdout",
                         daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # stray output from a library; the ready line is the JSON one
            if isinstance(record, dict) and record.get("ready") is True:
                self.ready = record
                return record
        code = self.proc.poll()
        if code is None:
            self.stop()
            raise BackendError(f"the backend did not report ready within {timeout:.0f} s; see {self.log_path}")
        raise BackendError(f"the backend exited with code {code} while starting:\n{self.log_tail()}\n"
                           f"(full log: {self.log_path})")

    def connect(self, timeout: float = 10.0) -> BackendClient:
        if not self.running:
            raise BackendError("the backend is not running; start it first")
        return BackendClient(self.address, self.token, timeout=timeout, alive=self.alive)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Ask the process to exit (SIGTERM: it cancels jobs and closes cleanly), kill it after ``timeout`` s."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.ready = {}
        return self.proc.returncode

    def restart(self, timeout: float = 120.0) -> dict:
        self.stop()
        return self.start(timeout)


def _pump(stream, lines: queue.Queue) -> None:
    """Read the backend's stdout to EOF (so it can never block on a full pipe)."""
    try:
        for line in iter(stream.readline, b""):
            lines.put(line)
    except (OSError, ValueError):
        pass
