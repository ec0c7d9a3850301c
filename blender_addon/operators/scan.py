"""Scan operators: *Fit Body* (a scan file or the selected mesh -> a fitted body overlaid on it), *Rig Scan* (the
scan skinned to the body's armature) and *Apply Motion* (any motion on the armature: body and rigged scan move)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import bpy
import numpy as np

from ..core.jobs.scan import ScanFitParams, ScanRigParams
from ..preferences import get_prefs
from .base import JobOperator, JobStep, UserError, backend_poll
from .body import select_only, tag_built
from .targets import body_armature, body_poll, existing_path, model_dir_param



def selected_scan_object(context):
    """The active mesh object when it is not a built body's mesh, else None."""
    ob = context.active_object
    if ob is None or ob.type != "MESH" or ob.smplpix.role == "MESH":
        return None
    return ob


def object_to_npz(ob) -> str:
    """The evaluated mesh of ``ob`` in world coordinates (metres, Blender Z-up) as a points+faces .npz."""
    deps = bpy.context.evaluated_depsgraph_get()
    me = ob.evaluated_get(deps).to_mesh()
    try:
        me.calc_loop_triangles()
        co = np.empty(len(me.vertices) * 3, np.float32)
        me.vertices.foreach_get("co", co)
        tri = np.empty(len(me.loop_triangles) * 3, np.int32)
        me.loop_triangles.foreach_get("vertices", tri)
    finally:
        ob.evaluated_get(deps).to_mesh_clear()
    M = np.array(ob.matrix_world)
    verts = co.reshape(-1, 3) @ M[:3, :3].T + M[:3, 3]
    path = Path(tempfile.mkdtemp(prefix="smplpix-scan-")) / f"{bpy.path.clean_name(ob.name)}.npz"
    np.savez(path, points=verts.astype(np.float64), faces=tri.reshape(-1, 3))
    return str(path)


def add_scan_object(name: str, vertices: np.ndarray, faces: np.ndarray, axes: str):
    """A mesh object of the scan (metres, the scan's axes) placed like a body built with ``axes``."""
    from mathutils import Matrix

    from ..builders.common import Created, world_matrix
    from ..builders.mesh import build_mesh_data

    created = Created()
    try:
        me = build_mesh_data(name, vertices, faces, None, created)
        ob = created.add(bpy.data.objects.new(name, me))
        ob.matrix_world = Matrix(world_matrix(axes).tolist())
        bpy.context.scene.collection.objects.link(ob)
    except BaseException:
        created.remove_all()
        raise
    return ob


class SMPLPIX_OT_scan_fit(JobOperator, bpy.types.Operator):
    """Fit a body to the scan file set in the Scan panel, or to the selected mesh: the fitted body appears over it"""

    bl_idname = "smplpix.scan_fit"
    bl_label = "Fit Body"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(name="Scan", subtype="FILE_PATH",
                                       description="Scan file (empty: the selected mesh, else the Scan panel's file)")

    @classmethod
    def poll(cls, context):
        return backend_poll(cls, ScanFitParams.KIND)

    def steps(self, context):
        from ..builders.scene import build_motion
        from ..core.motion import Motion

        s = context.scene.smplpix
        ob = None if self.filepath else selected_scan_object(context)
        if ob is not None:
            scan, axes = object_to_npz(ob), "Z"
        else:
            scan, axes = existing_path(self.filepath or s.scan_path, "scan file"), "auto"
        prefs = get_prefs(context)
        params = ScanFitParams(scan=scan, model=s.scan_model, up_axis=axes).to_params()
        params = model_dir_param(prefs, params, s.scan_model)
        result = yield JobStep(ScanFitParams.KIND, params, f"Fit body to {Path(scan).name}")
        motion_path = result.files.get("motion")
        if not motion_path:
            raise UserError("the scan fit returned no motion file; see the backend log")
        rig = result.files["rig"]
        motion = Motion.load(motion_path)
        built = build_motion(rig, motion, name=f"{Path(scan).stem}Body", camera=False)
        tag_built(built, rig, motion.model, motion_path=motion_path)
        arm = bpy.data.objects[built.armature]
        if ob is None:
            with np.load(result.files["scan"], allow_pickle=False) as d:
                ob = add_scan_object(Path(scan).stem, d["vertices"], d["faces"], motion.up_axis)
        rec = arm.smplpix  # the body record: the scan as a pointer (a rename does not break it)
        rec.scan, rec.scan_path, rec.scan_fit_path, rec.scan_axes = ob, scan, motion_path, motion.up_axis
        select_only(built.armature)
        self.report({"INFO"}, f"Fitted {motion.model} to {Path(scan).name}: "
                              f"{motion.metadata.get('chamfer_mm', 0):.1f} mm Chamfer")


class SMPLPIX_OT_scan_rig(JobOperator, bpy.types.Operator):
    """Skin the scan to the fitted body's armature (weights from the nearest body surface, smoothed)"""

    bl_idname = "smplpix.scan_rig"
    bl_label = "Rig Scan"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return body_poll(cls, context, "Select a body made by Fit Body first", ScanRigParams.KIND, ("scan_fit_path",))

    def steps(self, context):
        from ..builders.mesh import add_vertex_groups

        arm = body_armature(context)
        ob = arm.smplpix.scan
        if ob is None or ob.name not in bpy.data.objects:
            raise UserError("the scan mesh this body was fitted to is gone; fit the body again")
        params = ScanRigParams(scan=arm.smplpix.scan_path, fit=arm.smplpix.scan_fit_path).to_params()
        params = model_dir_param(get_prefs(context), params, arm.smplpix.model)
        result = yield JobStep(ScanRigParams.KIND, params, f"Rig {ob.name}")
        with np.load(result.files["weights"], allow_pickle=False) as d:
            rest, weights, names = d["rest_vertices"], d["weights"], tuple(str(n) for n in d["joint_names"])
        if len(rest) != len(ob.data.vertices):
            raise UserError(f"{ob.name} has {len(ob.data.vertices)} vertices, the rigged scan {len(rest)}; the mesh "
                            "changed since the fit: fit it again")
        ob.data.vertices.foreach_set("co", np.asarray(rest, np.float32).ravel())
        ob.data.update()
        ob.vertex_groups.clear()
        add_vertex_groups(ob, names, weights)
        for mod in [m for m in ob.modifiers if m.type == "ARMATURE"]:
            ob.modifiers.remove(mod)
        ob.parent = arm
        ob.matrix_parent_inverse.identity()
        ob.matrix_basis.identity()
        mod = ob.modifiers.new("Armature", "ARMATURE")
        mod.object, mod.use_vertex_groups = arm, True
        self.report({"INFO"}, f"Rigged {ob.name} to {arm.name}")


class SMPLPIX_OT_scan_apply_motion(bpy.types.Operator):
    """Play a motion file on the selected body (and the scan rigged to it)"""

    bl_idname = "smplpix.scan_apply_motion"
    bl_label = "Apply Motion"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(name="Motion", subtype="FILE_PATH",
                                       description="Motion file (empty: the Body panel's motion file)")

    @classmethod
    def poll(cls, context):
        return body_poll(cls, context, "Select a body first")

    def execute(self, context):
        from ..builders.scene import apply_motion
        from ..core.readers import read_motion
        from .base import USER_ERRORS

        arm = body_armature(context)
        try:
            path = existing_path(self.filepath or context.scene.smplpix.motion_path, "motion file")
            built = apply_motion(arm.smplpix.rig_path, arm.name, read_motion(path))
        except (UserError, *USER_ERRORS) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{Path(path).name} on {arm.name}: frames {built.frame_start}-{built.frame_end}")
        return {"FINISHED"}


CLASSES = (SMPLPIX_OT_scan_fit, SMPLPIX_OT_scan_rig, SMPLPIX_OT_scan_apply_motion)
