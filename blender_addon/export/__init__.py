"""FBX and glTF/GLB export of built humans (bpy zone): a bpy-free preset table and ``export_scene``."""
