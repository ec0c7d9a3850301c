"""Every class the add-on registers, listed explicitly, registered in order and unregistered in reverse.

No side effects at register: no sockets, no processes, no timers (the backend starts from a button). Unregister
stops a backend the session started, so disabling the add-on leaves no process behind.
"""

from __future__ import annotations

import bpy

from . import preferences, properties
from .operators import avatar, backend_ops, body, chain, estimate, export_ops, scan
from .ui import panels, scan_panel

CLASSES = (
    preferences.SMPLPIX_AddonPreferences,
    *properties.CLASSES,
    *backend_ops.CLASSES,
    *body.CLASSES,
    *estimate.CLASSES,
    *avatar.CLASSES,
    *chain.CLASSES,
    *export_ops.CLASSES,
    *scan.CLASSES,
    *panels.CLASSES,
    *scan_panel.CLASSES,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    properties.register_pointers()


def unregister() -> None:
    from .operators.base import sync_jobs_ui
    from .ipc.session import SESSION

    if bpy.app.timers.is_registered(sync_jobs_ui):
        bpy.app.timers.unregister(sync_jobs_ui)
    SESSION.stop()
    properties.unregister_pointers()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
