"""The UI path of a long job with a real backend subprocess: invoke -> modal timer ticks -> finish, and Esc.

Headless bpy has no window, so ``invoke`` falls back to the blocking path and no real timer events arrive; these
tests drive the operator's own ``modal()`` with event objects carrying ``type='TIMER'`` / ``'ESC'`` (the window
manager's progress/status calls go to a recorder). The session, backend, socket and jobs are real. Undo: headless
Blender pushes no undo step for an operator, so the test pushes the one the UI pushes when an UNDO operator
finishes, and checks one undo takes the whole result away (nothing is applied outside the operator call)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy")


class _Recorder:
    """The window manager's / workspace's UI calls of a modal operator, recorded."""

    def __init__(self):
        self.calls: list[tuple] = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, *args))


def _probe(kind: str, params: str):
    """A JobOperator instance outside the operator registry: the real run_job steps and modal logic."""
    from blender_addon.operators.backend_ops import SMPLPIX_OT_run_job
    from blender_addon.operators.base import JobOperator

    class Probe(JobOperator):
        steps = SMPLPIX_OT_run_job.steps

        def __init__(self):
            self.kind, self.params, self.reports = kind, params, []

        def report(self, level, message):
            self.reports.append((next(iter(level)), message))

    return Probe()


def _start(op):
    """What ``invoke`` does in a window: first step submitted, a timer and a modal handler added."""
    wm, ws = _Recorder(), _Recorder()
    context = SimpleNamespace(window_manager=wm, workspace=ws)
    op._gen = op.steps(context)
    assert op._submit(next(op._gen))
    op._timer = object()
    return context, wm, ws


def _tick(op, context):
    return op.modal(context, SimpleNamespace(type="TIMER", value="NOTHING", timer=op._timer))


def test_modal_job_runs_on_timer_events_and_finishes(session):
    op = _probe("count", '{"n": 5, "delay": 0.05}')
    context, wm, ws = _start(op)
    other = op.modal(context, SimpleNamespace(type="MOUSEMOVE", value="NOTHING", timer=None))
    assert other == {"PASS_THROUGH"}  # the UI stays responsive
    results, deadline = [], time.monotonic() + 30
    while time.monotonic() < deadline:
        results.append(_tick(op, context))
        if results[-1] != {"PASS_THROUGH"}:
            break
        time.sleep(0.02)
    assert results[-1] == {"FINISHED"} and len(results) > 2
    progress = [c[1] for c in wm.calls if c[0] == "progress_update"]
    assert progress and progress == sorted(progress) and 0 < max(progress) <= 1000
    assert any(c[0] == "status_text_set" and c[1] and "Esc to cancel" in c[1] for c in ws.calls)
    assert ("event_timer_remove",) == wm.calls[-2][:1] and wm.calls[-1] == ("progress_end",)
    assert ws.calls[-1] == ("status_text_set", None) and op._timer is None
    assert op.reports and op.reports[-1][0] == "INFO" and "count=" in op.reports[-1][1]


def test_escape_cancels_the_backend_job(session):
    op = _probe("count", '{"n": 400, "delay": 0.05}')
    context, wm, ws = _start(op)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and session.jobs[op._job_id].state != "running":
        assert _tick(op, context) == {"PASS_THROUGH"}
        time.sleep(0.02)
    assert op.modal(context, SimpleNamespace(type="ESC", value="PRESS", timer=None)) == {"CANCELLED"}
    assert op.reports[-1] == ("WARNING", "count: cancelled") and op._timer is None
    rec = session.wait(op._job_id, timeout=30)
    assert rec.state == "cancelled" and rec.done < 400


def test_one_undo_step_takes_the_whole_result(session):
    bpy.ops.ed.undo_push(message="before Add Body")
    before = sorted(o.name for o in bpy.data.objects)
    assert bpy.ops.smplpix.add_body() == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Add Body")  # what the UI pushes when an UNDO operator finishes
    added = sorted(o.name for o in bpy.data.objects)
    assert len(added) == len(before) + 2  # armature and mesh
    bpy.ops.ed.undo()
    assert sorted(o.name for o in bpy.data.objects) == before
    bpy.ops.ed.redo()
    assert sorted(o.name for o in bpy.data.objects) == added
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    assert arm.smplpix.mesh is not None and arm.smplpix.record_version > 0  # the record came back with it


def _objects_and_data():
    return {name: sorted(x.name for x in getattr(bpy.data, name))
            for name in ("objects", "meshes", "armatures", "actions", "cameras", "movieclips", "images")}


def test_failed_build_reports_one_line_and_changes_nothing(session, monkeypatch):
    from blender_addon.builders import scene as scene_builder

    real = scene_builder.build_skinned_mesh

    def mesh_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("injected mesh failure")

    monkeypatch.setattr(scene_builder, "build_skinned_mesh", mesh_then_fail)
    before = _objects_and_data()
    with pytest.raises(RuntimeError) as err:
        bpy.ops.smplpix.add_body()
    message = str(err.value).strip()
    assert "injected mesh failure" in message and "Traceback" not in message and len(message.splitlines()) == 1
    assert _objects_and_data() == before


def test_motion_with_infinite_fps_is_refused_in_one_line(session, tmp_path):
    import json

    import numpy as np

    from blender_addon.core.motion import Motion

    path = tmp_path / "inf_fps.npz"
    Motion(model="anny", fps=30.0, joint_names=("root",), rotvec=np.zeros((3, 1, 3)), transl=np.zeros((3, 3))
           ).save(path)
    with np.load(path) as d:
        arrays = {k: d[k] for k in d.files}
    header = json.loads(str(arrays["header"]))
    header["fps"] = float("inf")
    arrays["header"] = np.asarray(json.dumps(header))
    np.savez(path, **arrays)
    before = _objects_and_data()
    with pytest.raises(RuntimeError) as err:
        bpy.ops.smplpix.import_motion(filepath=str(path))
    message = str(err.value).strip()
    assert "inf_fps.npz: fps is inf" in message and "Traceback" not in message and len(message.splitlines()) == 1
    assert _objects_and_data() == before
