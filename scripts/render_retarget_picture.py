"""Render the README picture: a captured motion (the estimate of a real video) on the built Anny body and, beside
it, retargeted onto Blender's own Rigify human metarig (a box per bone so Workbench can draw it).

    python scripts/render_retarget_picture.py MOTION.npz -o docs/images/retarget_rigify.png [--frames 40,80,120]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def bone_boxes(bpy, arm_name: str) -> None:
    """A thin box along every deforming bone, parented to that bone (Workbench draws meshes, not bones)."""
    import bmesh

    arm = bpy.data.objects[arm_name]
    for b in arm.data.bones:
        if not b.use_deform or b.length < 0.02 or b.name.startswith(("face", "lip", "brow", "lid", "ear", "nose",
                                                                     "cheek", "chin", "jaw", "forehead", "temple",
                                                                     "tongue", "teeth", "eye", "breast", "pelvis")):
            continue
        mesh = bpy.data.meshes.new(f"box_{b.name}")
        bm = bmesh.new()
        bmesh.ops.create_cube(bm, size=1.0)
        w = min(0.045, 0.25 * b.length)
        for v in bm.verts:
            v.co.x, v.co.y, v.co.z = v.co.x * w, (v.co.y + 0.5) * b.length, v.co.z * w
        bm.to_mesh(mesh)
        ob = bpy.data.objects.new(mesh.name, mesh)
        bpy.context.scene.collection.objects.link(ob)
        ob.parent, ob.parent_type, ob.parent_bone = arm, "BONE", b.name
        ob.matrix_parent_inverse.identity()
        ob.location = (0, -b.length, 0)  # bone parenting starts at the tail


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("motion", type=Path)
    p.add_argument("-o", "--out", type=Path, default=REPO / "docs" / "images" / "retarget_rigify.png")
    p.add_argument("--frames", default="40,90,140,190")
    a = p.parse_args()
    import bpy  # first: it puts addon_utils on sys.path
    import addon_utils
    from mathutils import Vector

    from backend.bodymodels.rig_cache import cached_anny_rig
    from blender_addon.builders.retarget import retarget_armature
    from blender_addon.builders.scene import build_motion
    from blender_addon.core.readers import read_motion

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("rigify", default_set=True, handle_error=None)
    motion = read_motion(a.motion)
    body = build_motion(cached_anny_rig(), motion, name="Body", shape_keys=False, expressions=False,
                        correctives=False, camera=False)
    bpy.ops.object.armature_human_metarig_add()
    rig = bpy.context.active_object
    # Beside where the body starts, on the floor the body lands on (the lowest standing ankle level).
    from blender_addon.builders.retarget import evaluated_animation

    body_ob = bpy.data.objects[body.armature]
    feet = [body_ob.pose.bones.find(n) for n in ("foot.L", "foot.R")]
    heads = evaluated_animation(body_ob, range(body.frame_start, body.frame_end + 1))[1]
    floor = float(np.percentile(heads[:, feet, 2].min(axis=1), 5))
    ankle = min(rig.data.bones["foot.L"].head_local.z, rig.data.bones["foot.R"].head_local.z)
    start = heads[0, 0]
    rig.location = (start[0] + 1.4, start[1], floor - ankle)
    report = retarget_armature(body.armature, rig.name, contacts=motion.foot_contact)
    print(report.text)
    bone_boxes(bpy, rig.name)
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "SINGLE"
    scene.render.resolution_x, scene.render.resolution_y = 640, 480
    scene.render.film_transparent = False
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    tiles = []
    for f in (int(v) for v in a.frames.split(",")):
        scene.frame_set(f)
        hips = bpy.data.objects[body.armature].matrix_world @ bpy.data.objects[body.armature].pose.bones[0].head
        centre = Vector((hips.x + 0.7, hips.y, hips.z + 0.35))
        cam.location = centre + Vector((0.4, -5.6, 0.3))
        cam.rotation_euler = (centre - cam.location).to_track_quat("-Z", "Y").to_euler()
        path = a.out.with_name(f".tile_{f}.png")
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        img = bpy.data.images.load(str(path))
        px = np.array(img.pixels[:], np.float32).reshape(480, 640, 4)[::-1]
        tiles.append(px)
        path.unlink()
    sheet = np.concatenate(tiles, axis=1)
    out = bpy.data.images.new("sheet", sheet.shape[1], sheet.shape[0], alpha=True)
    out.pixels[:] = sheet[::-1].ravel()
    out.filepath_raw, out.file_format = str(a.out), "PNG"
    a.out.parent.mkdir(parents=True, exist_ok=True)
    out.save()
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
