"""The add-on registers and unregisters cleanly, repeatedly, with no side effects at register."""

from __future__ import annotations

import threading

import pytest

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402

ADDON = "blender_addon"


def _registered_names() -> set[str]:
    from blender_addon import registration

    return {cls.__name__ for cls in registration.CLASSES if cls.is_registered}


def test_addon_ui_register_unregister_three_times():
    from blender_addon import registration
    from blender_addon.operators.base import sync_jobs_ui
    from blender_addon.ipc.session import SESSION

    bpy.ops.wm.read_factory_settings(use_empty=True)
    threads = threading.active_count()
    for _ in range(3):
        assert addon_utils.enable(ADDON, default_set=True, handle_error=None) is not None
        assert _registered_names() == {cls.__name__ for cls in registration.CLASSES}
        assert bpy.context.scene.smplpix.model == "anny"
        assert bpy.context.window_manager.smplpix_jobs.jobs is not None
        ob = bpy.data.objects.new("probe", None)
        assert ob.smplpix.role == "NONE"
        bpy.data.objects.remove(ob)
        assert ADDON in bpy.context.preferences.addons
        # no side effects: no backend, no sockets/threads, no timers
        assert SESSION.process is None and SESSION.client is None
        assert threading.active_count() == threads
        assert not bpy.app.timers.is_registered(sync_jobs_ui)
        addon_utils.disable(ADDON, default_set=True, handle_error=None)
        assert _registered_names() == set()
        for id_type, attr in ((bpy.types.Object, "smplpix"), (bpy.types.Scene, "smplpix"),
                              (bpy.types.WindowManager, "smplpix_jobs")):
            assert not hasattr(id_type, attr)
        assert not _op_exists("smplpix.add_body") and getattr(bpy.types, "SMPLPIX_PT_body", None) is None
        assert ADDON not in bpy.context.preferences.addons


def _op_exists(idname: str) -> bool:
    try:
        return getattr(bpy.ops.smplpix, idname.split(".")[1]).get_rna_type() is not None
    except (KeyError, AttributeError):
        return False


def test_addon_ui_names_follow_house_style():
    from blender_addon import registration

    for cls in registration.CLASSES:
        name = cls.__name__
        assert name.startswith(("SMPLPIX_OT_", "SMPLPIX_PT_", "SMPLPIX_PG_", "SMPLPIX_UL_", "SMPLPIX_AddonPreferences"))
        if name.startswith("SMPLPIX_OT_"):
            assert cls.bl_idname == "smplpix." + name[len("SMPLPIX_OT_"):]
        if name.startswith("SMPLPIX_PT_"):
            assert cls.bl_category == "SMPLpix" and cls.bl_space_type == "VIEW_3D" and cls.bl_region_type == "UI"
    assert len(set(registration.CLASSES)) == len(registration.CLASSES)


def test_addon_ui_poll_messages_explain_grey_buttons(addon):
    with pytest.raises(RuntimeError, match="Start the backend first"):
        bpy.ops.smplpix.add_body()
    with pytest.raises(RuntimeError, match="Select a body built by SMPLpix"):
        bpy.ops.smplpix.export_body()
    with pytest.raises(RuntimeError, match="not running"):
        bpy.ops.smplpix.backend_stop()
