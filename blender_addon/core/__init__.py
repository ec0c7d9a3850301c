"""bpy-free add-on code: data contracts (RigSpec, Motion), rotation maths and file readers.

Importable from plain Python (numpy only), from Blender, and from the backend.
"""

ADDON_VERSION = "0.1.0"  # the add-on version written into body records (= blender_manifest.toml)
