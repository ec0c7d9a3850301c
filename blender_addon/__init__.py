"""SMPLpix Studio: video to rigged, animated humans and SMPLpix neural avatars in Blender.

Thin on purpose: bpy is imported only inside register()/unregister() (via ``registration``), so the bpy-free
packages ``core`` and ``ipc`` can be imported by plain Python and by the backend.
"""


def register():
    from . import registration

    registration.register()


def unregister():
    from . import registration

    registration.unregister()
