"""A real backend subprocess on loopback driven by the real client: progress, results, cancel, isolation, lifecycle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blender_addon.ipc import protocol as P
from blender_addon.ipc.client import BackendClient, BackendError


def collect(client: BackendClient, job_id: str, timeout: float = 60.0) -> list:
    """Every message of one job, in arrival order, up to and including its Result/Error."""
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = client.next_message(0.2)
        if msg is None or getattr(msg, "job_id", None) != job_id:
            continue
        out.append(msg)
        if isinstance(msg, (P.Result, P.Error)):
            return out
    raise AssertionError(f"job {job_id} did not finish; got {out[-3:]}")


def next_of(client: BackendClient, cls, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = client.next_message(0.2)
        if isinstance(msg, cls):
            return msg
    raise AssertionError(f"no {cls.__name__} within {timeout} s")


def test_server_ready_line_and_welcome(backend):
    assert backend.ready["ready"] is True and backend.ready["protocol_version"] == P.PROTOCOL_VERSION
    assert backend.ready["pid"] == backend.proc.pid and backend.ready["port"] > 0
    assert {"build_body", "count", "free_memory"} <= set(backend.kinds)
    with backend.connect() as client:
        assert client.welcome.pid == backend.proc.pid
        seq = client.ping()
        assert next_of(client, P.Pong).seq == seq


def test_server_progress_arrives_in_order_then_result(backend):
    with backend.connect() as client:
        job = client.submit("count", {"n": 25, "delay": 0.0})
        msgs = collect(client, job)
    progress, last = msgs[:-1], msgs[-1]
    assert progress[0].stage == "queued"
    dones = [m.done for m in progress[1:]]
    assert dones == list(range(26)), dones  # 0..25, each exactly once, in order
    assert all(m.total == 25 for m in progress[1:])
    assert isinstance(last, P.Result)
    assert json.loads(Path(last.files["count"]).read_text()) == {"n": 25}
    assert Path(last.files["count"]).parent.parent == backend.job_root


def test_server_cancel_stops_within_one_step(backend):
    """Steps of 0.2 s: after the cancel, at most the step already under way reports, and it ends within a step."""
    with backend.connect() as client:
        job = client.submit("count", {"n": 10_000, "delay": 0.2})
        seen, deadline = -1, time.monotonic() + 20
        while seen < 2:
            assert time.monotonic() < deadline, "the count job never reached step 2"
            msg = client.next_message(0.5)
            if isinstance(msg, P.Progress) and msg.job_id == job and msg.stage == "count":
                seen = msg.done
        t0 = time.monotonic()
        client.cancel(job)
        msgs = collect(client, job, timeout=10)
        elapsed = time.monotonic() - t0
        assert isinstance(msgs[-1], P.Error) and msgs[-1].kind == P.ERR_CANCELLED
        later = [m.done for m in msgs[:-1] if isinstance(m, P.Progress)]
        assert max(later, default=seen) <= seen + 1, (seen, later)  # the step under way may still report
        assert elapsed < 1.0, elapsed  # one step is 0.2 s
        client.status()
        jobs = next_of(client, P.StatusReply).jobs
        assert [(j["job_id"], j["state"]) for j in jobs] == [(job, "cancelled")]


def test_client_close_after_the_backend_ended_releases_the_socket(fresh_backend):
    """Stopping a backend used to leave the client's socket open (close() returned early once the stream ended)."""
    fds = lambda: len(os.listdir("/proc/self/fd"))  # noqa: E731
    before = fds()
    client = fresh_backend.connect()
    client.shutdown()
    deadline = time.monotonic() + 15
    while client.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.connected
    client.close()
    assert client.sock.fileno() == -1
    client.close()  # idempotent
    fresh_backend.stop()
    assert fds() <= before, (before, fds())


def test_server_two_clients_do_not_see_each_others_jobs(backend):
    with backend.connect() as a, backend.connect() as b:
        job_a = a.submit("count", {"n": 200, "delay": 0.005})
        b.status()
        assert next_of(b, P.StatusReply).jobs == []
        b.cancel(job_a)  # not B's job: refused, A's job goes on
        err = next_of(b, P.Error)
        assert err.kind == P.ERR_BAD_REQUEST and err.job_id == job_a
        job_b = b.submit("count", {"n": 3, "delay": 0.0})
        res_a = collect(a, job_a)[-1]
        assert isinstance(res_a, P.Result)
        msgs_b = collect(b, job_b)
        assert isinstance(msgs_b[-1], P.Result)
        assert all(m.job_id == job_b for m in msgs_b)
        a.status()
        assert [j["job_id"] for j in next_of(a, P.StatusReply).jobs] == [job_a]


def test_server_typed_errors(backend):
    with backend.connect() as client:
        job = client.submit("fail", {"user": True})
        err = collect(client, job)[-1]
        assert err.kind == P.ERR_FAILED and "always fails" in err.message
        job = client.submit("fail", {"user": False})
        err = collect(client, job)[-1]
        assert err.kind == P.ERR_INTERNAL and "RuntimeError" in err.message
        assert "fail_job" in err.traceback and "Traceback" in err.traceback
        job = client.submit("no_such_kind", {})
        err = collect(client, job)[-1]
        assert err.kind == P.ERR_UNKNOWN_KIND and "count" in err.message
        job = client.submit("count", {"n": 1, "delay": 0})
        collect(client, job)
        client.submit("count", {"n": 1}, job_id=job)
        err = collect(client, job)[-1]
        assert err.kind == P.ERR_BAD_REQUEST and "already in use" in err.message
        job = client.submit("count", {"n": -5})
        err = collect(client, job)[-1]
        assert err.kind == P.ERR_FAILED and "n=-5" in err.message


def test_server_disconnect_cancels_that_clients_jobs(backend):
    a = backend.connect()
    job_a = a.submit("count", {"n": 100_000, "delay": 0.01})
    next_of(a, P.Progress)
    a.close()
    with backend.connect() as b:
        t0 = time.monotonic()
        job_b = b.submit("count", {"n": 2, "delay": 0.0})
        assert isinstance(collect(b, job_b, timeout=10)[-1], P.Result)
        assert time.monotonic() - t0 < 5.0  # A's 1000 s job did not block the worker
    assert "cancelled 1 job(s) of the departed client" in backend.log_tail(200)
    assert job_a


def test_server_shutdown_message_stops_process(fresh_backend):
    with fresh_backend.connect() as client:
        job = client.submit("count", {"n": 100_000, "delay": 0.01})
        next_of(client, P.Progress)
        client.shutdown()
        err = client.wait_for(job, timeout=15)
        assert err.kind in (P.ERR_CANCELLED, P.ERR_BACKEND_DIED)
    assert fresh_backend.proc.wait(15) == 0
    assert "shutdown requested by a client" in fresh_backend.log_tail(50)


def test_server_exits_when_parent_dies(repo_root, tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    env = dict(os.environ, SMPLPIX_TOKEN="secret", PYTHONPATH=str(repo_root))
    server = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--parent-pid", str(parent.pid),
                               "--job-root", str(tmp_path)], cwd=repo_root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = json.loads(server.stdout.readline())
        assert ready["ready"] is True
        assert server.poll() is None
        parent.kill()
        parent.wait()
        assert server.wait(10) == 0
        assert b"parent process" in server.stderr.read()
    finally:
        for p in (parent, server):
            if p.poll() is None:
                p.kill()
                p.wait()
        server.stdout.close()
        server.stderr.close()


def test_server_requires_token_env(repo_root):
    env = {k: v for k, v in os.environ.items() if k != "SMPLPIX_TOKEN"}
    env["PYTHONPATH"] = str(repo_root)
    r = subprocess.run([sys.executable, "-m", "backend", "serve"], cwd=repo_root, env=env, capture_output=True,
                       timeout=60)
    assert r.returncode == 2 and b"SMPLPIX_TOKEN is not set" in r.stderr and r.stdout == b""


def test_server_killed_mid_job_is_reported_and_restart_works(fresh_backend):
    client = fresh_backend.connect()
    job = client.submit("count", {"n": 100_000, "delay": 0.01})
    next_of(client, P.Progress)
    fresh_backend.proc.kill()
    err = client.wait_for(job, timeout=10)
    assert err.kind == P.ERR_BACKEND_DIED and "Restart the backend" in err.message
    assert not client.connected
    fresh_backend.proc.wait(5)  # the socket closes a moment before the process can be reaped
    assert not fresh_backend.running and fresh_backend.returncode == -9
    with pytest.raises(BackendError):
        client.submit("count", {"n": 1})
    client.close()
    fresh_backend.restart()
    with fresh_backend.connect() as again:
        job = again.submit("count", {"n": 2, "delay": 0})
        assert isinstance(again.wait_for(job, timeout=30), P.Result)


def test_server_unix_socket(backend_factory, tmp_path):
    sock_path = str(tmp_path / "backend.sock")
    proc = backend_factory(unix_socket=sock_path)
    assert proc.ready["unix"] == sock_path and proc.ready["port"] is None and proc.address == sock_path
    with proc.connect() as client:
        job = client.submit("count", {"n": 3, "delay": 0})
        assert isinstance(client.wait_for(job, timeout=30), P.Result)
    proc.stop()
    assert not Path(sock_path).exists()  # removed on shutdown
