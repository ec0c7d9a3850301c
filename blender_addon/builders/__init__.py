"""Blender builders (bpy zone): armature, skinned mesh, shape keys, bulk keyframes, camera, write-back.

Entry points for operators (explicit arguments in, object/action names out, nothing half-built on error):
- :func:`scene.build_body` (rig, name, betas) -> BuildResult: rest-pose armature + skinned mesh + shape keys.
- :func:`scene.build_motion` (rig, motion or motion file, fps, frame_start, video) -> BuildResult: animated body,
  optional camera with the source video as background; sets the scene's fps, frame range and resolution.
- :func:`scene.apply_motion` (rig, armature name, motion) -> BuildResult: re-animate a built body.
- :func:`writeback.armature_motion` / :func:`writeback.export_motion` (armature, path): animation -> Motion / file.
- :func:`shapekeys.set_correctives_muted` (mesh object, muted): fast viewport playback switch.
Every build writes the body's one record (``blender_addon/body_record.py``: model, axes, fps, shape, joint names,
shape-key groups, mesh/camera pointers, file paths) on its armature.
"""
