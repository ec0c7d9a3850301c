"""Quality of random humans: prior spread, validity, floor contact, self-intersection of detail layers, and pictures.

    python scripts/eval/eval_generate.py [--count 16] [--seed 0] [--out out/eval_generate] [--images docs/images]

Writes ``OUT/summary.json`` (printed too) and, with ``--images``, ``generate_contact_sheet.jpg`` (the humans at
rest with their facial expression, to scale, clothing-like layers tinted) and ``generate_interpolation_strip.jpg``
(the tallest human morphing into the shortest while moving, 6 frames of 120) and ``generate_walkcycle_strip.jpg``
(a random human walking Anny's converted walk cycle, seen from its left).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from render import render  # noqa: E402

from backend.generate.batch import generate_random, load_record  # noqa: E402
from backend.generate.detail_layers import region_mask  # noqa: E402
from backend.generate.face import face_coefficients  # noqa: E402
from backend.generate.human import (  # noqa: E402
    GenerateOptions,
    make_generator,
    rest_body,
    sample_factor,
    shape_strata,
)
from backend.generate.interpolate import interpolate  # noqa: E402
from backend.generate.quality import boundary_edge_count, self_intersection_fraction  # noqa: E402
from blender_addon.core.motion import Motion  # noqa: E402
from blender_addon.core.rigspec import RigSpec  # noqa: E402
from blender_addon.core.rotations import rotvec_to_matrix  # noqa: E402

TILE_W, TILE_H, DIST = 230, 420, 4.0
R_FRONT = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # camera on -Y looking +Y, Z up
SKIN, HAIR = np.array([125, 155, 205], np.float32), np.array([30, 45, 70], np.float32)
CLOTH = [np.array(c, np.float32) for c in ((150, 80, 60), (60, 60, 160), (70, 130, 70), (40, 40, 40), (170, 150, 90))]


def colours(masks: dict, layers: list, index: int) -> np.ndarray:
    """(V, 3) BGR: skin, tinted by the worn layers' region masks."""
    col = np.tile(SKIN, (len(next(iter(masks.values()))), 1))
    worn = {x["name"] for x in layers}
    for name, tint in (("clothing_legs", CLOTH[(index + 1) % 5]), ("clothing_torso", CLOTH[index % 5]),
                       ("hair", HAIR)):
        if name in worn:
            m = masks[name][:, None]
            col = (1 - m) * col + m * tint
    return col


def draw(verts: np.ndarray, faces: np.ndarray, col: np.ndarray, x_centre: float = 0.0) -> np.ndarray:
    """A TILE_W x TILE_H front view of a Z-up mesh standing at height 0, 2.2 m tall frame."""
    f = TILE_H * DIST / 2.3
    K = np.array([[f, 0, TILE_W / 2], [0, f, TILE_H * 0.5], [0, 0, 1.0]])
    centre = np.array([x_centre, -DIST, 1.05])
    cam = (verts - centre) @ R_FRONT.T
    bg = np.full((TILE_H, TILE_W, 3), 235, np.uint8)
    floor = int(K[1, 1] * 1.05 / DIST + K[1, 2])
    bg[floor:] = 205
    return render(bg, cam, faces, K, col)


def adult_batch_spreads(generator, seeds: range, count: int = 8) -> dict:
    """Height spread (m, Anny rest meshes, height solved) of batches of ``count`` adults (18-70 y), one per seed."""
    spreads = []
    for seed in seeds:
        opts = GenerateOptions(seed=seed)
        strata = shape_strata(seed, count)
        spreads.append(np.ptp([sample_factor(generator, opts, "shape", (seed, i), strata[i])["height_m"]
                               for i in range(count)]))
    return {"seeds": f"{seeds.start}-{seeds.stop - 1}", "median": round(float(np.median(spreads)), 3),
            "min": round(float(np.min(spreads)), 3), "max": round(float(np.max(spreads)), 3)}


def measure(out: Path, generator, records: list) -> dict:
    heights = np.array([r["measures"]["height_m"] for r in records])
    pheno = {k: [r["factors"]["shape"]["phenotype"][k] for r in records] for k in records[0]["factors"]["shape"][
        "phenotype"]}
    rigs = [RigSpec.load(out / r["files"]["rig"]) for r in records]
    motions = [Motion.load(out / r["files"]["motion"]) for r in records]
    inter = []
    for r, rig in zip(records, rigs):
        if len(inter) >= 4 or not r["factors"]["detail"]["layers"]:
            continue
        plain, _, _ = rest_body(generator, {**r["factors"], "detail": {"layers": []}})
        inter.append({"human": r["name"], "layers": [x["name"] for x in r["factors"]["detail"]["layers"]],
                      "plain": round(self_intersection_fraction(plain.template, plain.faces), 5),
                      "dressed": round(self_intersection_fraction(rig.template, rig.faces), 5)})
    return {
        "count": len(records), "heights_m": [round(h, 3) for h in heights],
        "height_spread_m": round(float(np.ptp(heights)), 3),
        "height_spread_8_adult_batches_m": adult_batch_spreads(generator, range(20)),
        "sexes": {s: sum(r["factors"]["shape"]["sex"] == s for r in records) for s in ("male", "female")},
        "ages_years": [round(r["factors"]["shape"]["age_years"], 1) for r in records],
        "phenotype_range": {k: [round(min(v), 3), round(max(v), 3)] for k, v in pheno.items()},
        "pose_sources": sorted({r["factors"]["pose"]["source"] for r in records}),
        "no_nan": bool(all(np.isfinite(g.template).all() for g in rigs) and all(np.isfinite(m.rotvec).all()
                                                                              for m in motions)),
        "boundary_edges": sorted({boundary_edge_count(g.faces) for g in rigs}),
        "lowest_rest_vertex_m": round(float(min(g.template[:, 2].min() for g in rigs)), 6),
        "self_intersecting_faces": inter,
    }


def contact_sheet(out: Path, generator, records: list, path: Path) -> None:
    ref = generator.reference_rig
    masks = {n: region_mask(ref, n) for n in ("clothing_torso", "clothing_legs", "hair")}
    tiles = []
    for r in records:
        rig = RigSpec.load(out / r["files"]["rig"])
        verts, _ = rig.rest_state(None, face_coefficients(r["factors"]["face"], rig.expr_names))
        tile = draw(verts, rig.faces, colours(masks, r["factors"]["detail"]["layers"], r["index"]))
        s = r["factors"]["shape"]
        label = f"{s['sex'][0].upper()} {s['age_years']:.0f}y {r['measures']['height_m']:.2f}m"
        cv2.putText(tile, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
        tiles.append(tile)
    cols = 8
    rows = [np.concatenate(tiles[i:i + cols] + [np.full_like(tiles[0], 235)] * (cols - len(tiles[i:i + cols])), 1)
            for i in range(0, len(tiles), cols)]
    cv2.imwrite(str(path), np.concatenate(rows, 0), [cv2.IMWRITE_JPEG_QUALITY, 88])


def walkcycle_strip(out: Path, generator, path: Path, name: str = "crappy_experimental_female") -> dict:
    """A random human walking Anny's walk cycle, seen from its left, 6 frames of one cycle (followed by the camera)."""
    opts = GenerateOptions(seed=5, frames=50, motion_files=(f"walkcycle:{name}",))
    humans = generate_random(1, opts, out / "walkcycle", generator=generator)
    rec = load_record(f"{humans}:0")[0]
    rig = RigSpec.load(humans.parent / rec["files"]["rig"])
    motion = Motion.load(humans.parent / rec["files"]["motion"])
    masks = {n: region_mask(generator.reference_rig, n) for n in ("clothing_torso", "clothing_legs", "hair")}
    col = colours(masks, rec["factors"]["detail"]["layers"], 0)
    frames = np.linspace(0, 40, 6).round().astype(int)
    verts, _ = rig.skin(rotvec_to_matrix(motion.rotvec[frames]), motion.transl[frames])
    side = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # the body's left side to the camera
    tiles = []
    for k, i in enumerate(frames):
        v = (verts[k] - [0.0, motion.transl[i, 1], 0.0]) @ side.T
        tile = draw(v, rig.faces, col)
        cv2.putText(tile, f"frame {i + 1}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
        tiles.append(tile)
    cv2.imwrite(str(path), np.concatenate(tiles, 1), [cv2.IMWRITE_JPEG_QUALITY, 88])
    lowest = verts[..., 2].min(1)
    return {"walkcycle": name, "lowest_vertex_m": [round(float(lowest.min()), 4), round(float(lowest.max()), 4)],
            "no_nan": bool(np.isfinite(motion.rotvec).all() and np.isfinite(verts).all())}


def strip(out: Path, records: list, generator, path: Path) -> dict:
    order = np.argsort([r["measures"]["height_m"] for r in records])
    a, b = records[order[-1]], records[order[0]]
    files = interpolate(out / f"{a['name']}.json", out / f"{b['name']}.json", 120, out / "interp", generator=generator)
    rig, motion = RigSpec.load(files["rig"]), Motion.load(files["motion"])
    ref = generator.reference_rig
    masks = {n: region_mask(ref, n) for n in ("clothing_torso", "clothing_legs", "hair")}
    col_a = colours(masks, a["factors"]["detail"]["layers"], a["index"])
    col_b = colours(masks, b["factors"]["detail"]["layers"], b["index"])
    frames = np.linspace(0, 119, 6).round().astype(int)
    tiles, heights = [], []
    for i in frames:
        verts, _ = rig.skin(rotvec_to_matrix(motion.rotvec[i:i + 1]), motion.transl[i:i + 1],
                            expression=motion.expression[i])
        t = float(motion.expression[i, -4:].mean())
        tile = draw(verts[0], rig.faces, (1 - t) * col_a + t * col_b)
        cv2.putText(tile, f"frame {i + 1}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
        tiles.append(tile)
        rest, _ = rig.rest_state(None, np.r_[np.zeros(len(rig.expr_names) - 4), motion.expression[i, -4:]])
        heights.append(round(float(np.ptp(rest[:, 2])), 3))
    cv2.imwrite(str(path), np.concatenate(tiles, 1), [cv2.IMWRITE_JPEG_QUALITY, 88])
    return {"from": a["name"], "to": b["name"], "rest_height_at_frames_m": dict(zip(map(int, frames + 1), heights))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out/eval_generate")
    ap.add_argument("--images", default=None, help="folder for the pictures (e.g. docs/images)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    generator = make_generator("anny")
    t0 = time.perf_counter()
    humans = generate_random(args.count, GenerateOptions(seed=args.seed, frames=120), out / "humans",
                             generator=generator)
    seconds = (time.perf_counter() - t0) / args.count
    records = [load_record(f"{humans}:{i}")[0] for i in range(args.count)]
    summary = {"seed": args.seed, "seconds_per_human": round(seconds, 2), **measure(out / "humans", generator,
                                                                                    records)}
    if args.images:
        img = Path(args.images)
        img.mkdir(parents=True, exist_ok=True)
        contact_sheet(out / "humans", generator, records, img / "generate_contact_sheet.jpg")
        summary["interpolation"] = strip(out / "humans", records, generator, img / "generate_interpolation_strip.jpg")
        summary["walkcycle"] = walkcycle_strip(out, generator, img / "generate_walkcycle_strip.jpg")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
