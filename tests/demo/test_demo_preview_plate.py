"""The avatar preview (a PNG sequence) lands in Blender as a frame-synced image sequence on the camera."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
cv2 = pytest.importorskip("cv2")

from blender_addon.builders.preview import find_sequence, load_preview  # noqa: E402


@pytest.fixture()
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy.context.scene


def _write_frames(folder, n=5):
    folder.mkdir()
    for i in range(n):
        img = np.zeros((16, 24, 4), np.uint8)
        img[..., 2] = 40 * i  # red channel in BGRA grows per frame
        img[..., 3] = 255
        cv2.imwrite(str(folder / f"frame_{i + 1:06d}.png"), img)


def test_preview_sequence_plays_on_a_camera_plane(tmp_path, empty_scene):
    _write_frames(tmp_path / "preview", 5)
    (tmp_path / "preview" / "notes.png").write_bytes(b"")  # un-numbered files are ignored
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    empty_scene.collection.objects.link(cam)
    empty_scene.camera = cam
    name = load_preview(tmp_path / "preview", frame_start=3, camera="Cam")
    image = bpy.data.images[name]
    assert image.source == "SEQUENCE" and image["smplpix_frames"] == 5
    plane = bpy.data.objects[f"{name} Plane"]
    assert plane.parent == cam
    tex = next(n for n in plane.active_material.node_tree.nodes if n.type == "TEX_IMAGE")
    assert tex.image == image and tex.image_user.frame_start == 3 and tex.image_user.frame_duration == 5
    # The plane is inside the camera's view, in its top-right part, in front of the lens.
    from bpy_extras.object_utils import world_to_camera_view

    empty_scene.view_layers[0].update()
    for v in plane.data.vertices:
        p = world_to_camera_view(empty_scene, cam, plane.matrix_world @ v.co)
        assert 0.0 <= p.x <= 1.0 and 0.0 <= p.y <= 1.0 and p.z > 0
        assert p.x > 0.4 and p.y > 0.4
    # Loading again replaces image, plane and material instead of piling them up.
    name2 = load_preview(tmp_path / "preview", frame_start=3, camera="Cam")
    assert name2 == name and sum(1 for i in bpy.data.images if i.name.startswith("SMPLpix Preview")) == 1
    assert sum(1 for o in bpy.data.objects if o.name.startswith(f"{name} Plane")) == 1
    assert sum(1 for m in bpy.data.materials if m.name.startswith(f"{name} Plane")) == 1
    image = bpy.data.images[name2]
    assert bpy.path.abspath(image.filepath).endswith("frame_000001.png")


def test_preview_errors_name_the_fix(tmp_path, empty_scene):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="Render preview"):
        find_sequence(tmp_path / "empty")
    _write_frames(tmp_path / "p", 2)
    with pytest.raises(ValueError, match="not a camera"):
        load_preview(tmp_path / "p", camera="Nope")
