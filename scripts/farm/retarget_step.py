"""batch_convert's ``--retarget TARGET.fbx|.blend [--bone-map MAP.json]`` step, run inside Blender after the body is
built: load the target character, bake the body's motion onto it, and name what the exports should contain."""

from __future__ import annotations

from pathlib import Path


def check_retarget_args(args) -> str | None:
    """A usage error for the retarget options (checked before any work), or None."""
    if args.bone_map and not args.retarget:
        return "--bone-map needs --retarget TARGET.fbx|.blend"
    if args.retarget:
        if not args.retarget.is_file() or args.retarget.suffix.lower() not in (".fbx", ".blend"):
            return f"--retarget {args.retarget}: not an existing .fbx or .blend file"
        if args.bone_map:
            from blender_addon.core.bone_maps import BoneMapError, load_map_file

            try:
                load_map_file(args.bone_map)
            except BoneMapError as exc:
                return str(exc)
    return None


def retarget_body(bpy, args, motion_path: Path | None) -> tuple[str, str]:
    """Retarget the active built body onto the character in ``args.retarget``; returns (target armature, report).
    Foot contacts come from the motion file's ``foot_contact`` when it has them."""
    from blender_addon.builders.retarget import load_target_rig, retarget_armature
    from blender_addon.core.readers import read_motion
    from blender_addon.core.retarget import RetargetOptions

    body = bpy.context.view_layer.objects.active
    target = load_target_rig(args.retarget)
    contacts = None
    if motion_path is not None and motion_path.suffix.lower() == ".npz":
        try:
            contacts = read_motion(motion_path).foot_contact
        except ValueError:
            contacts = None
    report = retarget_armature(body.name, target, args.bone_map, RetargetOptions(root_motion=args.root_motion),
                               contacts)
    return target, report.text
