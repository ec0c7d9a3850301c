"""``python -m backend serve``: start the job server and print one JSON ready line on stdout.

The add-on passes the connection token in the environment (``SMPLPIX_TOKEN``), never on the command line where other
local users could read it. ``SMPLPIX_TEST_JOBS=1`` also registers the test job kinds (``count``, ``fail``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("serve", help="run the local job server the Blender add-on talks to")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="TCP port (default 0: chosen by the OS)")
    p.add_argument("--unix", metavar="PATH", help="listen on this Unix socket instead of TCP")
    p.add_argument("--job-root", type=Path, help="folder for job outputs (default: a new temporary folder)")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto", help="where jobs run")
    p.add_argument("--parent-pid", type=int, help="exit when this process exits (the add-on's Blender)")
    p.add_argument("--hello-timeout", type=float, default=10.0, help="seconds a new connection has to say hello")
    p.set_defaults(handler=run_serve)


def run_serve(args) -> int:
    from backend.jobs.registry import load_job_modules
    from backend.server.server import serve

    token = os.environ.get("SMPLPIX_TOKEN", "")
    if not token:
        log.error("SMPLPIX_TOKEN is not set: the add-on sets it when it starts the backend; to run the server by "
                  "hand, export SMPLPIX_TOKEN=<a secret> and give the same token to the client.")
        return 2
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        log.error("--host %s: the server only listens on loopback (127.0.0.1 or ::1)", args.host)
        return 2
    kinds = load_job_modules(test_jobs=os.environ.get("SMPLPIX_TEST_JOBS") == "1")
    log.info("job kinds: %s", ", ".join(kinds))
    from backend.runtime import check_writable

    job_root = args.job_root or Path(tempfile.mkdtemp(prefix="smplpix-jobs-"))
    try:
        check_writable(job_root, "job folder")
    except OSError as exc:
        log.error("%s (--job-root)", exc)
        return 2
    return serve(token, job_root, host=args.host, port=args.port, unix_path=args.unix, device=args.device,
                 parent_pid=args.parent_pid, hello_timeout=args.hello_timeout)
