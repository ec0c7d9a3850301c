"""Training settings of the avatar (torch-free, so the CLI can list them without importing torch).

:class:`TrainConfig` is defined with the ``train_avatar`` job contract in :mod:`blender_addon.core.jobs.avatar`
(the contract takes exactly its fields); add new settings there.
"""

from __future__ import annotations

from blender_addon.core.jobs.avatar import TrainConfig

__all__ = ["TrainConfig"]
