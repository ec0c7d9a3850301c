"""SMPLpix Studio backend: body models, perception, fitting, SMPLpix avatars, the job server and its CLI.

Never imports bpy. Heavy dependencies (torch, mediapipe, onnxruntime) are imported by the submodules that use them.
"""

__version__ = "0.1.0"
