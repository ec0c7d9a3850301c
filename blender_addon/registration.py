"""Every class the add-on registers, listed explicitly, registered in order and unregistered in reverse.

No side effects at register: no sockets, no processes, no timers (the backend starts from a button). Unregister
stops a backend the session started, so disabling the add-on leaves no process behind.
"""

from __future__ import annotations

import bpy

from . import body_record, preferences, properties
from .operators import avatar, backend_ops, body, chain, estimate, estimate_multi, export_ops, generate, retarget, scan
from .ui import generate_panel, panels, retarget_panel, scan_panel

CLASSES = (
    preferences.SMPLPIX_AddonPreferences,
    *properties.CLASSES,
    *backend_ops.CLASSES,
    *body.CLASSES,
    *estimate.CLASSES,
    *estimate_multi.CLASSES,
    *avatar.CLASSES,
    *chain.CLASSES,
    *export_ops.CLASSES,
    *retarget.CLASSES,
    *scan.CLASSES,
    *generate.CLASSES,
    *panels.CLASSES,
    *retarget_panel.CLASSES,
    *scan_panel.CLASSES,
    *generate_panel.CLASSES,
)


def register() -> None:
    for cls in CLASSES:
        if not getattr(cls, "is_registered", False):  # the builders may have registered the body record already
            bpy.utils.register_class(cls)
    properties.register_pointers()
    body_record.register_handlers()
    generate.register_pointers()


def unregister() -> None:
    from .operators.base import sync_jobs_ui
    from .ipc.session import SESSION

    if bpy.app.timers.is_registered(sync_jobs_ui):
        bpy.app.timers.unregister(sync_jobs_ui)
    SESSION.stop()
    body_record.unregister_handlers()
    generate.unregister_pointers()
    properties.unregister_pointers()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
