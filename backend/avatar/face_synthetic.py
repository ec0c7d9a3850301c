"""A synthetic face close-up for tests and the face-avatar benchmark: Anny's head (its ARKit facial actions: jaw,
blinks, smiles, brows, pucker) turning a little in front of a fixed camera, painted with a procedural skin / lips /
eyes / brows texture, lit by its normals, over a static background. The motion is the generator's own (the ground
truth of the face estimate), marked ``metadata.subject = "face"``.

No footage in the shared data has a face large enough for a close-up (the faces there are ~40-80 px), so the clip is
rendered; it is written by the suite (tests) and by ``python -m backend avatar face-clip``, never committed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from backend.avatar.face_dataset import head_mesh, head_vertices
from backend.avatar.raster import render_channels
from backend.avatar.synthetic import background, render_shaded
from blender_addon.core.motion import Camera, Motion

# facial action -> (amplitude, period in frames, phase): smooth, incommensurate curves so held-out blocks hold
# combinations the training frames did not
ACTIONS = {"jawOpen": (0.7, 17.0, 0.0), "mouthSmileLeft": (0.8, 23.0, 1.0), "mouthSmileRight": (0.8, 23.0, 1.3),
           "browInnerUp": (0.9, 29.0, 2.0), "mouthPucker": (0.6, 37.0, 0.5)}
BLINK_EVERY = 11  # frames between blinks


def face_expression(frames: int, names: tuple[str, ...], count: int = 0) -> np.ndarray:
    """(frames, E) expression: for ARKit facial actions (``names``, Anny) weights in [0, 1], the ``ACTIONS`` curves
    and a two-frame blink every ``BLINK_EVERY`` frames; for PCA coefficients (FLAME, SMPL-X: ``count`` of them) the
    first three swing by +-1.5 (the models' expression units) on the first three ``ACTIONS`` periods."""
    t = np.arange(frames, dtype=np.float64)
    if "jawOpen" not in names:  # PCA expression coefficients
        out = np.zeros((frames, max(count, len(names))), np.float32)
        for k, (_, period, phase) in enumerate(list(ACTIONS.values())[:min(3, count)]):
            out[:, k] = 1.5 * np.sin(2 * np.pi * t / period + phase)
        return out
    out = np.zeros((frames, len(names)), np.float32)
    for name, (amp, period, phase) in ACTIONS.items():
        if name in names:
            out[:, names.index(name)] = amp * 0.5 * (1 - np.cos(2 * np.pi * t / period + phase))
    blink = np.clip(1 - np.abs((t % BLINK_EVERY) - BLINK_EVERY / 2) / 1.5, 0, 1)
    for name in ("eyeBlinkLeft", "eyeBlinkRight"):
        if name in names:
            out[:, names.index(name)] = blink
    return out


def face_motion(model, frames: int = 48, size: int = 160, fps: float = 30.0) -> Motion:
    """The clip's motion: the head turning (yaw +-12 deg, pitch +-6 deg), the facial actions, and a fixed camera in
    front of the face framing the head in ~60 % of a size^2 image."""
    t = np.arange(frames) / frames * 2 * np.pi
    J = len(model.joint_names)
    rot = np.zeros((frames, J, 3))
    head = model.joint_names.index("head" if "head" in model.joint_names else "neck")  # FLAME turns at the neck
    names = tuple(model.expression_names)
    motion0 = Motion(model=model.name, fps=fps, joint_names=tuple(model.joint_names), rotvec=rot[:1],
                     transl=np.zeros((1, 3)), up_axis=model.up_axis)
    from backend.avatar.body import motion_vertices

    with torch.no_grad():
        rest = motion_vertices(model, motion0)[0]
        joints = model(model.zero_pose(1)).joints[0]
    mesh = head_mesh(model)
    pts = rest[mesh.vertex_index].double().numpy()
    centre = (pts.min(0) + pts.max(0)) / 2
    eyes = [model.joint_names.index(n) for n in ("eye.L", "eye.R", "left_eye", "right_eye") if n in model.joint_names]
    front = (joints[eyes].mean(0) - joints[head]).double().numpy() if eyes else np.array([0.0, -1.0, 0.0])
    up = np.array([0.0, 0.0, 1.0]) if model.up_axis == "Z" else np.array([0.0, 1.0, 0.0])
    front = front - up * (front @ up)
    front /= np.linalg.norm(front)
    yaw_axis, pitch_axis = up, np.cross(up, front)
    aa = (0.21 * np.sin(t))[:, None] * yaw_axis + (0.1 * np.sin(2 * t + 0.7))[:, None] * pitch_axis
    rot[:, head] = aa  # small angles: the head nods and turns whatever its joint's rest frame
    extent = float((pts.max(0) - pts.min(0)).max())
    f = 1.4 * size
    dist = f * extent / (0.6 * size)
    eye = centre + front * dist
    z = -front  # camera looks at the face
    y = -(up - z * (up @ z))  # image down = world down
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    R = np.stack([x, y, z])  # OpenCV: x right, y down, z forward
    tc = -R @ eye
    K = np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1.0]])
    cam = Camera(K=np.repeat(K[None], frames, 0), R=np.repeat(R[None], frames, 0), t=np.repeat(tc[None], frames, 0),
                 image_size=(size, size))
    return Motion(model=model.name, fps=fps, joint_names=tuple(model.joint_names), rotvec=rot,
                  transl=np.zeros((frames, 3)), betas=np.zeros(0, np.float32),
                  expression=face_expression(frames, names, model.num_expression), camera=cam, up_axis=model.up_axis,
                  metadata={"subject": "face", "synthetic": f"{model.name} head, procedural skin texture",
                            "metrics": {"part": "face"}}, source_fps=fps)


def face_albedo(model, mesh) -> torch.Tensor:
    """(Vh, 3) per-vertex colour of the head: skin with a fine mottle, red lips (where the pucker moves), dark eyes
    and brows (where the blink / brow actions move), darker hair over the back and top of the skull."""
    code = mesh.code.double()
    idx = mesh.vertex_index
    names = tuple(model.expression_names)
    dirs = torch.zeros(len(names), len(idx), dtype=torch.float64)  # how far each action moves each head vertex
    if hasattr(model, "face_dirs"):  # Anny: the facial-action offsets of the vertices they touch
        fd = model.face_dirs.reshape(len(names), -1, 3)
        where = {int(v): k for k, v in enumerate(model.face_vertex_index.tolist())}
        pos = torch.tensor([where.get(int(v), -1) for v in idx])
        ok = pos >= 0
        dirs[:, ok] = fd[:, pos[ok]].norm(dim=-1).double()

    def moved(name: str) -> torch.Tensor:
        if name not in names:
            return torch.zeros(len(idx), dtype=torch.float64)
        d = dirs[names.index(name)]
        return (d / d.max().clamp(min=1e-9)).clamp(0, 1)

    skin = torch.tensor([0.86, 0.64, 0.52], dtype=torch.float64)
    mottle = 0.06 * torch.sin(53 * code[:, :1]) * torch.sin(47 * code[:, 2:3]) + 0.04 * torch.sin(90 * code[:, 1:2])
    colour = skin[None] * (1 + mottle)
    lips = ((moved("mouthPucker") - 0.3) / 0.3).clamp(0, 1)
    colour = colour * (1 - lips[:, None]) + torch.tensor([0.72, 0.25, 0.3], dtype=torch.float64) * lips[:, None]
    dark = torch.maximum(moved("eyeBlinkLeft"), moved("eyeBlinkRight")).clamp(0, 1) ** 0.7
    brows = torch.maximum(moved("browDownLeft"), moved("browDownRight")) ** 0.7
    for w, c in ((dark, (0.25, 0.15, 0.12)), (brows, (0.3, 0.2, 0.12))):
        colour = colour * (1 - w[:, None]) + torch.tensor(c, dtype=torch.float64) * w[:, None]
    colour = colour * (1 - 0.85 * mouth_inside(model, mesh)[:, None])  # a dark mouth cavity
    hair = ((code[:, 2] - 0.72) / 0.1).clamp(0, 1)  # the top of the skull (code z = the up axis for Anny)
    colour = colour * (1 - hair[:, None]) + torch.tensor([0.2, 0.13, 0.08], dtype=torch.float64) * hair[:, None]
    return colour.clamp(0, 1).float()


def mouth_inside(model, mesh, size: int = 384) -> torch.Tensor:
    """(Vh,) 1 for head vertices inside the mouth (hidden from the front with the mouth closed, within 3 cm of the
    lips' centre sideways and in height, and behind the lips: the cavity an open jaw shows), else 0."""
    names = tuple(model.expression_names)
    if "mouthPucker" not in names or not hasattr(model, "face_dirs"):
        return torch.zeros(len(mesh.vertex_index))
    from backend.fitting.correspondences import model_axes

    left, up, fwd = (torch.as_tensor(a, dtype=torch.float32) for a in model_axes(model.rig_spec()))
    with torch.no_grad():
        rest = model(model.zero_pose(1)).vertices[0, mesh.vertex_index].float()
    fd = model.face_dirs.reshape(len(names), -1, 3)[names.index("mouthPucker")].norm(dim=-1)
    where = {int(v): k for k, v in enumerate(model.face_vertex_index.tolist())}
    pos = torch.tensor([where.get(int(v), -1) for v in mesh.vertex_index])
    lips = torch.zeros(len(rest), dtype=torch.bool)
    lips[pos >= 0] = fd[pos[pos >= 0]] > 0.5 * fd.max()
    centre = rest[lips].mean(0)
    # a camera 1 m in front of the lips, image down = the model's down: which vertices are seen
    R = torch.stack([torch.linalg.cross(-up, -fwd), -up, -fwd])
    cam = (rest - centre - fwd) @ R.T
    f = size * 3.0
    K = torch.tensor([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1.0]])
    depth, cov = render_channels(cam[None], K[None], mesh.faces, size, size, cam[None, :, 2:3], 1)
    zbuf = (depth / cov.clamp(min=1e-6))[0, 0]
    uv = (cam[:, :2] / cam[:, 2:] * f + size / 2).round().long().clamp(0, size - 1)
    hidden = cam[:, 2] > zbuf[uv[:, 1], uv[:, 0]] + 0.003
    d = rest - centre
    near = (d @ left).abs().lt(0.03) & (d @ up).abs().lt(0.03) & (d @ fwd).lt(0.0) & (d @ fwd).gt(-0.06)
    return (hidden & near).float()


def render_face_frames(model, motion: Motion, supersample: int = 2) -> np.ndarray:
    """Frames (F, H, W, 3) uint8 RGB of the head in ``motion`` (lit from the upper left, over ``background``)."""
    mesh = head_mesh(model)
    albedo = face_albedo(model, mesh)
    cam = motion.camera
    w, h = cam.image_size
    bg = torch.as_tensor(background(w, h), dtype=torch.float32).permute(2, 0, 1)[None]
    light = torch.tensor([0.4, -0.5, -0.75]).view(1, 3, 1, 1)
    lit = lambda alb, n: alb * (0.4 + 0.6 * (-(n * light).sum(1, keepdim=True) / light.norm()).clamp(min=0))  # noqa: E731
    out = []
    with torch.no_grad():
        for s in range(0, motion.num_frames, 16):
            sel = np.arange(s, min(motion.num_frames, s + 16))
            v = head_vertices(model, mesh, motion, sel)
            rgb, cov = render_shaded(v, cam, sel, mesh.faces, albedo, lit, supersample)
            frame = rgb.clamp(0, 1) * cov + bg * (1 - cov)
            out.append((frame.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))
    return np.concatenate(out)


def write_face_clip(out_dir: str | Path, frames: int = 48, size: int = 160, model=None) -> tuple[Path, Path]:
    """Write ``frames/%05d.png`` and ``motion.npz`` (the face motion) under ``out_dir``; returns (frames folder,
    motion path). ``model``: a loaded Anny body model (default: load it)."""
    from backend.avatar.body import load_model

    model = model if model is not None else load_model("anny")
    out_dir = Path(out_dir)
    motion = face_motion(model, frames, size)
    imgs = render_face_frames(model, motion)
    folder = out_dir / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(imgs):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return folder, motion.save(out_dir / "motion.npz")
