"""bpy-free add-on code: data contracts (RigSpec, Motion), rotation maths and file readers.

Importable from plain Python (numpy only), from Blender, and from the backend.
"""
