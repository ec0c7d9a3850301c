"""Operators driving a real backend subprocess from the real bpy module (headless: operators block and print
``SMPLPIX_PROGRESS`` lines)."""

from __future__ import annotations

import json

import pytest

bpy = pytest.importorskip("bpy")


def scene_state() -> dict:
    return {kind: sorted(x.name for x in getattr(bpy.data, kind))
            for kind in ("objects", "meshes", "armatures", "actions", "shape_keys", "collections")}


def progress_records(text: str) -> list[dict]:
    return [json.loads(line.split(" ", 1)[1]) for line in text.splitlines() if line.startswith("SMPLPIX_PROGRESS ")]


def test_addon_ui_add_body_builds_rigged_body(session, capsys, tmp_path):
    s = bpy.context.scene.smplpix
    s.body_name = "Person"
    s.pheno_age = 0.8
    assert bpy.ops.smplpix.add_body() == {"FINISHED"}
    records = progress_records(capsys.readouterr().out)
    stages = [r["stage"] for r in records]
    assert stages[0] == "queued" and stages[-1] == "write" and records[-1]["state"] == "done"
    assert [r["done"] for r in records if r["stage"] != "queued"][:4] == [0, 1, 2, 3]
    assert "rig" in records[-1]["files"]
    arm = bpy.data.objects["Person"]
    assert arm.type == "ARMATURE" and arm.smplpix.role == "ARMATURE" and arm.smplpix.model == "anny"
    mesh = next(c for c in arm.children if c.type == "MESH")
    assert mesh.smplpix.role == "MESH"
    from blender_addon.core.rigspec import RigSpec

    rig = RigSpec.load(arm.smplpix.rig_path)
    assert len(arm.data.bones) == rig.num_joints and len(mesh.data.vertices) == rig.num_vertices
    assert abs(rig.metadata["phenotype"]["age"] - 0.8) < 1e-6
    assert bpy.context.view_layer.objects.active == arm
    # the export button now works on it
    out = tmp_path / "person.glb"
    assert bpy.ops.smplpix.export_body(filepath=str(out), preset="glb_generic") == {"FINISHED"}
    assert out.is_file() and out.stat().st_size > 100_000


def test_addon_ui_model_files_missing_greys_add_body(session, tmp_path):
    bpy.context.scene.smplpix.model = "smplx"
    with pytest.raises(RuntimeError, match="needs its model files"):
        bpy.ops.smplpix.add_body()
    bpy.context.preferences.addons["blender_addon"].preferences.model_dir = str(tmp_path)
    with pytest.raises(RuntimeError, match="SMPLX_NEUTRAL.npz is not in"):
        bpy.ops.smplpix.add_body()


def test_addon_ui_backend_killed_mid_job_leaves_scene_unchanged_and_restarts(session, capsys):
    before = scene_state()
    killed = []

    def kill_on_first_stage(rec, msg):
        if getattr(msg, "stage", "") == "load_model" and not killed:
            session.process.proc.kill()
            killed.append(rec.job_id)

    session.listeners.append(kill_on_first_stage)
    try:
        with pytest.raises(RuntimeError, match="Restart the backend"):  # an operator's ERROR report raises in scripts
            bpy.ops.smplpix.add_body()
    finally:
        session.listeners.remove(kill_on_first_stage)
    assert killed, "the job never reached load_model"
    assert session.jobs[killed[0]].error.kind == "backend_died"
    assert scene_state() == before  # nothing half-built
    session.process.proc.wait(5)
    assert session.died and not session.running
    with pytest.raises(RuntimeError, match="stopped unexpectedly"):
        bpy.ops.smplpix.add_body()
    assert bpy.ops.smplpix.backend_start() == {"FINISHED"}
    assert bpy.ops.smplpix.add_body() == {"FINISHED"}
    assert len(scene_state()["armatures"]) == len(before["armatures"]) + 1


def test_addon_ui_cancel_job_operator_and_failed_job_report(session):
    job = session.submit("count", {"n": 10_000, "delay": 0.01}, "Count")
    rec = session.jobs[job]
    while rec.stage != "count":
        session.pump()
    assert bpy.ops.smplpix.cancel_job(job_id=job) == {"FINISHED"}
    assert session.wait(job, timeout=10).state == "cancelled"
    assert rec.done < 500
    with pytest.raises(RuntimeError, match="this job always fails"):
        bpy.ops.smplpix.run_job(kind="fail", params='{"user": true}')
    assert bpy.ops.smplpix.run_job(kind="count", params='{"n": 3, "delay": 0}') == {"FINISHED"}
    with pytest.raises(RuntimeError, match="params must be a JSON object"):
        bpy.ops.smplpix.run_job(kind="count", params="[1]")
    assert bpy.ops.smplpix.free_memory() == {"FINISHED"}
    assert bpy.ops.smplpix.clear_jobs() == {"FINISHED"}
    assert all(not r.finished for r in session.jobs.values())
    assert bpy.ops.smplpix.backend_stop() == {"FINISHED"}
    assert session.process is None


def test_addon_ui_jobs_list_mirrors_session(session):
    """The Jobs panel's list (WindowManager.smplpix_jobs) follows the session: progress, then final states."""
    import time

    from blender_addon.operators.base import sync_jobs_ui

    ok = session.submit("count", {"n": 40, "delay": 0.02}, "Counting")
    bad = session.submit("fail", {"user": True}, "Failing")
    items = bpy.context.window_manager.smplpix_jobs.jobs
    seen_running = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert sync_jobs_ui() == 0.25  # keeps ticking while the backend runs
        by_id = {item.job_id: item for item in items}
        if by_id.get(ok) is not None and by_id[ok].state == "running" and 0 < by_id[ok].progress < 1:
            seen_running = True
        if session.jobs[ok].finished and session.jobs[bad].finished:
            sync_jobs_ui()
            break
        time.sleep(0.02)
    by_id = {item.job_id: item for item in items}
    assert seen_running
    assert by_id[ok].state == "done" and by_id[ok].progress == 1.0 and by_id[ok].label == "Counting"
    assert by_id[bad].state == "failed" and "always fails" in by_id[bad].message
    assert [item.job_id for item in items][:2] == [bad, ok]  # newest first
    assert bpy.ops.smplpix.backend_stop() == {"FINISHED"}
    assert sync_jobs_ui() is None  # the timer ends with the backend


def test_addon_ui_invoke_in_background_runs_blocking(session, capsys):
    """The UI entry point (INVOKE_DEFAULT) falls back to the blocking path when there is no window."""
    assert bpy.app.background
    assert bpy.ops.smplpix.run_job("INVOKE_DEFAULT", kind="count", params='{"n": 4, "delay": 0}') == {"FINISHED"}
    records = progress_records(capsys.readouterr().out)
    assert [r["done"] for r in records if r["state"] == "running"] == [0, 1, 2, 3, 4]
    assert records[-1]["state"] == "done" and records[-1]["files"]["count"].endswith("count.json")
