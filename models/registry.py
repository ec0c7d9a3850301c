"""The model-file registry, for backend code and scripts: it lives in the bpy-free add-on zone
(:mod:`blender_addon.core.model_registry`) so the installed add-on ships it too; this module is the same module."""

import sys

from blender_addon.core import model_registry

sys.modules[__name__] = model_registry
