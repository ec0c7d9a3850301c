"""The scan jobs on a real backend subprocess: progress then cancel (nothing written), and a bad scan's message."""

from __future__ import annotations

import sys
import time

from blender_addon.core.jobs.scan import ScanFitParams
from blender_addon.ipc import protocol as P
from blender_addon.ipc.backend_process import BackendProcess


def test_scan_fit_job_reports_progress_cancels_and_refuses_bad_scans(repo_root, hand_scan, synthetic_model_dir,
                                                                     tmp_path):
    path, _ = hand_scan
    proc = BackendProcess(python=sys.executable, repo_root=repo_root, job_root=tmp_path / "jobs", device="cpu")
    proc.start()
    try:
        with proc.connect() as client:
            out = tmp_path / "fit.npz"
            job = client.submit(ScanFitParams.KIND, ScanFitParams(scan=str(path), model="mano", output=str(out),
                                                                  model_dir=str(synthetic_model_dir)).to_params())
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                msg = client.next_message(1.0)
                if isinstance(msg, P.Progress) and msg.job_id == job and msg.total and msg.done >= 3:
                    break
            else:
                raise AssertionError("no fit progress")
            client.cancel(job)
            while True:
                msg = client.next_message(30.0)
                assert msg is not None, "no answer to the cancel"
                if isinstance(msg, (P.Error, P.Result)) and msg.job_id == job:
                    break
            assert isinstance(msg, P.Error) and msg.kind == P.ERR_CANCELLED
            assert not out.exists()
            (tmp_path / "cube.txt").write_text("1 2 3")
            job = client.submit(ScanFitParams.KIND, {"scan": str(tmp_path / "cube.txt")})
            while True:
                msg = client.next_message(60.0)
                assert msg is not None
                if isinstance(msg, (P.Error, P.Result)) and msg.job_id == job:
                    break
            assert isinstance(msg, P.Error) and "cube.txt: unsupported scan format" in msg.message
    finally:
        proc.stop()
