"""The body-model interface every implementation follows (Anny, SMPL-X family).

A body model takes a batch of pose/shape parameters and returns posed vertices and joints, in the conventions
of :mod:`blender_addon.core.rigspec` (metres, the model's own axes, local joint rotations in rest axes).
"""

from __future__ import annotations

import abc
import dataclasses

import torch

from blender_addon.core.rigspec import RigSpec


@dataclasses.dataclass(frozen=True)
class BodyOutput:
    vertices: torch.Tensor  # (B, V, 3) metres
    joints: torch.Tensor  # (B, J, 3) metres, posed joint (bone head) positions


class BodyModel(torch.nn.Module, abc.ABC):
    """Batched, differentiable body model. Subclasses set the attributes below in ``__init__``."""

    name: str  # "anny", "smplx", "smplh", "smpl", "flame", "mano"
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]  # -1 for the root
    num_shape: int  # S: shape coefficients accepted by forward()
    num_expression: int  # E: expression coefficients accepted by forward() (0 if none)
    up_axis: str  # "Y" or "Z"
    # Names of the forward() coefficients (optional; Anny: phenotype names / ARKit facial actions).
    shape_names: tuple[str, ...] = ()
    expression_names: tuple[str, ...] = ()

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    @abc.abstractmethod
    def faces(self) -> torch.Tensor:
        """(F, 3) int64 triangle indices."""

    @abc.abstractmethod
    def forward(self, rotvec: torch.Tensor, transl: torch.Tensor | None = None, shape: torch.Tensor | None = None,
                expression: torch.Tensor | None = None) -> BodyOutput:
        """rotvec (B, J, 3) axis-angle radians (local, rest axes); transl (B, 3) metres; shape (B, S) or (1, S);
        expression (B, E) or (1, E). Missing parameters are zero. Returns :class:`BodyOutput`."""

    @abc.abstractmethod
    def rig_spec(self, shape: torch.Tensor | None = None) -> RigSpec:
        """The :class:`RigSpec` (numpy) of this model, with the given shape baked into the template if the model
        cannot express it as linear blendshapes (Anny phenotypes); its numpy skinning reproduces ``forward``."""

    def zero_pose(self, batch: int = 1) -> torch.Tensor:
        p = next(iter(self.buffers()), None)
        device = p.device if p is not None else "cpu"
        return torch.zeros(batch, self.num_joints, 3, device=device)
