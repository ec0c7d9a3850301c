"""Blender builders (bpy zone): armature, skinned mesh, shape keys, bulk keyframes, camera, write-back.

Entry points for operators: :func:`scene.build_body`, :func:`scene.build_motion`, :func:`writeback.export_motion`.
"""
