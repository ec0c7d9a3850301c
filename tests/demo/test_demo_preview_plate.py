"""The avatar preview (a full-frame RGBA PNG sequence) lands in Blender as a frame-synced layer over the video
plate: a camera background in front of the plate, and the compositor's alpha-over in renders."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
cv2 = pytest.importorskip("cv2")

from blender_addon.builders.preview import find_sequence, load_preview, plate_clip  # noqa: E402

W, H = 80, 60
PLATE_BGR = (200, 120, 40)  # the video's colour (BGR)


@pytest.fixture()
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy.context.scene


def _square(i: int) -> tuple[int, int]:
    """Top-left corner (x, y) of the avatar's 12 px square in frame i (moves 6 px right per frame)."""
    return 10 + 6 * i, 20


def _write_frames(folder, n=5):
    """Full-frame RGBA overlays: transparent except a red square that moves per frame."""
    folder.mkdir()
    for i in range(n):
        img = np.zeros((H, W, 4), np.uint8)
        x, y = _square(i)
        img[y:y + 12, x:x + 12] = (0, 0, 255, 255)  # BGRA red
        cv2.imwrite(str(folder / f"{i:05d}.png"), img)


def _plate_camera(tmp_path, scene):
    plate = tmp_path / "plate"
    plate.mkdir()
    for i in range(5):
        cv2.imwrite(str(plate / f"{i + 1:04d}.png"), np.full((H, W, 3), PLATE_BGR, np.uint8))
    clip = bpy.data.movieclips.load(str(plate / "0001.png"))
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    bg = cam.data.background_images.new()
    bg.source, bg.clip = "MOVIE_CLIP", clip
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = W, H, 100
    scene.frame_start, scene.frame_end = 1, 5
    return cam


def test_preview_is_a_frame_synced_layer_over_the_plate(tmp_path, empty_scene):
    scene = empty_scene
    cam = _plate_camera(tmp_path, scene)
    _write_frames(tmp_path / "preview", 5)
    (tmp_path / "preview" / "notes.png").write_bytes(b"")  # un-numbered files are ignored
    name = load_preview(tmp_path / "preview", frame_start=1, camera="Cam")
    image = bpy.data.images[name]
    assert image.source == "SEQUENCE" and image["smplpix_frames"] == 5 and scene.camera == cam
    layer = [bg for bg in cam.data.background_images if bg.source == "IMAGE"]
    assert len(layer) == 1 and layer[0].image == image and layer[0].display_depth == "FRONT"
    assert layer[0].image_user.frame_start == 1 and layer[0].image_user.frame_duration == 5
    assert plate_clip(cam) is not None  # the plate stays, behind the layer
    assert not any(o.name.endswith("Plane") for o in bpy.data.objects)  # no picture-in-picture crop plane
    # Rendered frames are the composite: the avatar's pixels where the person is, the plate elsewhere, in sync.
    scene.view_settings.view_transform = "Standard"
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.image_settings.file_format = "PNG"
    for frame in (2, 4):
        scene.frame_set(frame)
        scene.render.filepath = str(tmp_path / f"comp_{frame}.png")
        bpy.ops.render.render(write_still=True)
        out = cv2.imread(str(tmp_path / f"comp_{frame}.png"), cv2.IMREAD_COLOR).astype(int)
        assert out.shape == (H, W, 3)
        x, y = _square(frame - 1)
        assert np.abs(out[y + 3:y + 9, x + 3:x + 9] - (0, 0, 255)).max() <= 12, frame
        away = out[45:, :]  # below the square: the plate
        assert np.abs(away - PLATE_BGR).max() <= 12, frame
        px, py = _square(frame + 1 - 1)  # where the square is two frames later: still the plate now
        assert np.abs(out[py + 3:py + 9, px + 7:px + 9] - PLATE_BGR).max() <= 12, frame
    # Loading again replaces image, layer and compositor group instead of piling them up.
    name2 = load_preview(tmp_path / "preview", frame_start=1, camera="Cam")
    assert name2 == name and sum(1 for i in bpy.data.images if i.name.startswith("SMPLpix Preview")) == 1
    assert sum(1 for bg in cam.data.background_images if bg.source == "IMAGE") == 1
    assert sum(1 for g in bpy.data.node_groups if g.name.startswith(f"{name} Composite")) == 1
    assert bpy.path.abspath(bpy.data.images[name2].filepath).endswith("00000.png")


def test_preview_errors_name_the_fix(tmp_path, empty_scene):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="Render preview"):
        find_sequence(tmp_path / "empty")
    _write_frames(tmp_path / "p", 2)
    with pytest.raises(ValueError, match="not a camera"):
        load_preview(tmp_path / "p", camera="Nope")
