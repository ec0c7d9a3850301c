"""Bone maps (bpy-free): which bone of a skeleton plays which body *role*, and guessing them for unknown rigs.

A role is a neutral name for a body part (``hips``, ``spine``, ``chest``, ``upper_chest``, ``neck``, ``head``,
``shoulder.L`` (clavicle), ``upper_arm.L``, ``forearm.L``, ``hand.L``, ``thigh.L``, ``shin.L``, ``foot.L``,
``toe.L`` and fingers ``thumb.01.L`` .. ``pinky.03.L``; ``.R`` for the right side, the body's own left/right).
A map file is JSON::

    {"name": "mixamo", "kind": "target", "description": "...", "bones": {"hips": "mixamorig:Hips", ...}}

The files next to this module are the shipped maps: sources ``anny``, ``smplx`` (SMPL-X / SMPL+H / SMPL) and targets
``rigify_metarig``, ``rigify`` (generated rig, FK controls), ``mixamo``, ``ue5_mannequin``. A user map may instead
give ``"pairs": {"source joint": "target bone", ...}`` directly (no roles); :func:`load_map_file` reads both.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

MAP_DIR = Path(__file__).resolve().parent
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
BODY_ROLES = ("hips", "spine", "chest", "upper_chest", "neck", "head")
LIMB_ROLES = ("shoulder", "upper_arm", "forearm", "hand", "thigh", "shin", "foot", "toe")
SIDES = (".L", ".R")
ROLES = BODY_ROLES + tuple(f"{r}{s}" for s in SIDES for r in LIMB_ROLES) + tuple(
    f"{f}.0{k}{s}" for s in SIDES for f in FINGERS for k in (1, 2, 3))
# Each role's child along its chain: the segment role -> child is the bone's direction for rest-pose alignment.
CHAIN_CHILD = {"hips": "spine", "spine": "chest", "chest": "upper_chest", "upper_chest": "neck", "neck": "head",
               **{f"{a}{s}": f"{b}{s}" for s in SIDES for a, b in (
                   ("shoulder", "upper_arm"), ("upper_arm", "forearm"), ("forearm", "hand"), ("hand", "middle.01"),
                   ("thigh", "shin"), ("shin", "foot"), ("foot", "toe"))},
               **{f"{f}.0{k}{s}": f"{f}.0{k + 1}{s}" for s in SIDES for f in FINGERS for k in (1, 2)}}
# The role a role's bone must descend from (topology check of a guessed or user map).
CHAIN_PARENT = {c: p for p, c in CHAIN_CHILD.items()}
CHAIN_PARENT.update({f"shoulder{s}": "upper_chest" for s in SIDES})
CHAIN_PARENT.update({f"thigh{s}": "hips" for s in SIDES})
CHAIN_PARENT.update({f"{f}.01{s}": f"hand{s}" for s in SIDES for f in FINGERS})


class BoneMapError(ValueError):
    """A bone map is unreadable, or names bones a skeleton does not have; the message names them."""


@dataclasses.dataclass(frozen=True)
class BoneMap:
    """Role -> bone name for one skeleton (``kind`` "source" or "target")."""

    name: str
    kind: str
    bones: dict
    description: str = ""
    controls: bool = False  # a control rig (bones not one parent chain, constraints): no hierarchy check


@dataclasses.dataclass(frozen=True)
class Pairing:
    """What a retarget will drive: (role, source bone, target bone) triples, plus what stayed unmapped."""

    pairs: tuple[tuple[str, str, str], ...]
    target_map: str  # name of the target map used (or "guessed", or a file name)
    unmapped_target: tuple[str, ...]  # target bones no role reached (they follow their parents)
    missing_roles: tuple[str, ...]  # roles the target lacks although the source has them

    def report(self) -> str:
        """Human-readable summary: what was matched, and what was not."""
        lines = [f"bone map {self.target_map}: {len(self.pairs)} bones driven"]
        if self.missing_roles:
            lines.append(f"target has no bone for: {', '.join(self.missing_roles)}")
        if self.unmapped_target:
            shown = ", ".join(self.unmapped_target[:30]) + (" ..." if len(self.unmapped_target) > 30 else "")
            lines.append(f"{len(self.unmapped_target)} target bones not driven (they follow their parents): {shown}")
        return "\n".join(lines)


def shipped_maps(kind: str | None = None) -> dict[str, BoneMap]:
    """The shipped maps by name (optionally only sources or targets)."""
    maps = {p.stem: load_map_file(p) for p in sorted(MAP_DIR.glob("*.json"))}
    return {k: m for k, m in maps.items() if kind is None or m.kind == kind}


def load_map_file(path: str | Path) -> BoneMap:
    """Read a bone-map JSON file (roles in ``bones``, or direct ``pairs``); raises BoneMapError with the fix."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BoneMapError(f"{path}: not a readable bone-map JSON file ({exc}); see blender_addon/core/bone_maps/"
                           "mixamo.json for the format") from None
    bones = data.get("bones", data.get("pairs")) if isinstance(data, dict) else None
    if not isinstance(bones, dict) or not bones or not all(isinstance(k, str) and isinstance(v, str)
                                                            for k, v in bones.items()):
        raise BoneMapError(f"{path}: needs a 'bones' object of role -> bone name (or 'pairs' of source joint -> "
                           "target bone), all strings")
    kind = "pairs" if "pairs" in data and "bones" not in data else str(data.get("kind", "target"))
    if kind in ("source", "target"):
        unknown = sorted(set(bones) - set(ROLES))
        if unknown:
            raise BoneMapError(f"{path}: unknown role(s) {unknown}; roles are {', '.join(ROLES[:14])}, ... "
                               "(see blender_addon/core/bone_maps/__init__.py)")
    return BoneMap(name=str(data.get("name", path.stem)), kind=kind, bones=dict(bones),
                   description=str(data.get("description", "")), controls=bool(data.get("controls", False)))


def source_map(model: str, joint_names: tuple[str, ...] | list[str]) -> BoneMap:
    """The shipped source map of a body model (SMPL family share ``smplx``), limited to joints the rig has."""
    name = "anny" if model == "anny" else "smplx"
    base = shipped_maps("source")[name]
    have = set(joint_names)
    return dataclasses.replace(base, bones={r: b for r, b in base.bones.items() if b in have})


def _names_found(names: tuple[str, ...] | list[str]) -> str:
    names = list(names)
    return ", ".join(names[:25]) + (f" ... ({len(names)} bones)" if len(names) > 25 else f" ({len(names)} bones)")


def check_map_bones(bone_map: BoneMap, bone_names, what: str) -> None:
    """Raise BoneMapError naming the map's bones that ``bone_names`` lacks."""
    have = set(bone_names)
    missing = sorted({b for b in bone_map.bones.values() if b not in have})
    if missing:
        raise BoneMapError(f"bone map {bone_map.name}: {what} has no bone(s) {', '.join(missing)}; it has "
                           f"{_names_found(bone_names)}. Fix the names in the map or pick another map.")


def pair_bones(source: BoneMap, target_names, target_parents, target_map: BoneMap | None = None,
               fingers: bool = True, min_roles: int = 6, source_names=None) -> Pairing:
    """Pair the source's roles with a target skeleton's bones.

    target_names: (Jt,) bone names; target_parents: (Jt,) parent index or -1. ``target_map`` None picks the
    shipped target map that matches most bones, falling back to :func:`guess_roles`. A ``pairs`` map (source
    joint -> target bone) is used as given (checked against ``source_names`` when given). Raises BoneMapError when the map names bones the target lacks, or
    when fewer than ``min_roles`` roles (hips among them) are found.
    """
    target_names = list(target_names)
    if target_map is not None and target_map.kind == "pairs":
        check_map_bones(target_map, target_names, "the target rig")
        if source_names is not None:
            check_map_bones(BoneMap(target_map.name, "pairs", {s: s for s in target_map.bones}), source_names,
                            "the source body")
        inverse = {b: r for r, b in source.bones.items()}
        pairs = tuple((inverse.get(s, s), s, t) for s, t in target_map.bones.items())
        return _pairing(pairs, target_map.name, target_names, ())
    if target_map is not None:
        check_map_bones(target_map, target_names, "the target rig")
        roles, used, controls = dict(target_map.bones), target_map.name, target_map.controls
    else:
        roles, used = detect_roles(target_names, target_parents)
        controls = used in shipped_maps("target") and shipped_maps("target")[used].controls
    if "hips" not in roles or len(roles) < min_roles:
        raise BoneMapError(
            f"the target rig has no recognisable humanoid bones (found roles: {sorted(roles) or 'none'}); its "
            f"bones are {_names_found(target_names)}. Pass a bone map JSON (--bone-map / the panel's Bone Map) "
            "naming its hips, spine, arms and legs.")
    if not controls:
        _check_topology(roles, target_names, target_parents)
    pairs = tuple((r, source.bones[r], roles[r]) for r in ROLES if r in roles and r in source.bones
                  and (fingers or r.split(".")[0] not in FINGERS))
    missing = tuple(r for r in ROLES if r in source.bones and r not in roles
                    and (fingers or r.split(".")[0] not in FINGERS))
    return _pairing(pairs, used, target_names, missing)


def _pairing(pairs, used, target_names, missing) -> Pairing:
    driven = {t for _, _, t in pairs}
    return Pairing(pairs=tuple(pairs), target_map=used, missing_roles=tuple(missing),
                   unmapped_target=tuple(n for n in target_names if n not in driven))


def _check_topology(roles: dict, names: list[str], parents) -> None:
    """Each role's bone must descend from its chain parent's bone; raise BoneMapError naming the first that
    does not (a left/right swap or a mistyped map)."""
    index = {n: i for i, n in enumerate(names)}

    def ancestors(i: int) -> set[int]:
        out = set()
        while parents[i] >= 0:
            i = int(parents[i])
            out.add(i)
        return out

    for role, bone in roles.items():
        parent_role = CHAIN_PARENT.get(role)
        while parent_role is not None and parent_role not in roles:
            parent_role = CHAIN_PARENT.get(parent_role)
        if parent_role is None or bone not in index:
            continue
        if index[roles[parent_role]] not in ancestors(index[bone]):
            raise BoneMapError(f"bone map: {role} = {bone!r} is not below {parent_role} = {roles[parent_role]!r} "
                               "in the target's hierarchy; check the map for swapped or misspelled bones")


def detect_roles(names: list[str], parents) -> tuple[dict, str]:
    """Roles of an unknown target: the best-matching shipped target map if it covers >= 60 % of its roles'
    bones, else name-and-topology guessing (:func:`guess_roles`). Returns (roles, name of what was used)."""
    have = set(names)
    best, best_frac = None, 0.0
    for m in shipped_maps("target").values():
        frac = sum(b in have for b in m.bones.values()) / len(m.bones)
        if frac > best_frac:
            best, best_frac = m, frac
    if best is not None and best_frac >= 0.6:
        return {r: b for r, b in best.bones.items() if b in have}, best.name
    return guess_roles(names, parents), "guessed"


_PREFIX = re.compile(r"^(mixamorig\d*:|def[-_]|org[-_]|bip0?1[ _]?|cc_base_|b_|j_|bn_)", re.I)
_SIDE = re.compile(r"(^|[^a-z])(left|right|l|r)([^a-z]|$)|^(left|right)|(left|right)$", re.I)
_HELPER = re.compile(r"twist|roll|_end$|^end|nub|_ik|^ik|pole|target|mch|tweak|helper|parent|socket|^vb_")
_KEYWORDS = (  # (role, pattern on the side-less, prefix-less, lower-case name); first match wins
    ("hips", r"^(hips?|pelvis|root_?hips?)$"), ("head", r"^head$"), ("neck", r"^neck(_?0?1)?$"),
    ("shoulder", r"clavicle|collar"), ("upper_arm", r"upper_?arm|^arm$|uparm"),
    ("forearm", r"fore_?arm|lower_?arm|elbow|lowarm"), ("hand", r"^(hand|wrist)$"),
    ("thigh", r"thigh|up_?leg|upper_?leg"), ("shin", r"shin|calf|lower_?leg|^leg$|knee|lowleg"),
    ("foot", r"^(foot|ankle)$"), ("toe", r"toe|ball"), ("shoulder", r"^shoulder$"),
)


def _split_side(name: str) -> tuple[str, str]:
    """'mixamorig:LeftUpLeg' -> ('upleg', '.L'); 'thigh_l' -> ('thigh', '.L'); 'spine' -> ('spine', '')."""
    base = _PREFIX.sub("", name)
    base = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", base).lower()  # camelCase -> snake
    side = ""
    m = _SIDE.search(base)
    if m:
        word = next(g for g in m.groups()[1:] if g and g.lower() in ("left", "right", "l", "r"))
        side = ".L" if word.lower().startswith("l") else ".R"
        base = (base[:m.start()] + base[m.end():]) if m.group(2) is None else (
            base[:m.start(2)] + base[m.end(2):])
    return re.sub(r"[._\s-]+", "_", base).strip("_"), side


def guess_roles(names: list[str], parents) -> dict:
    """Guess roles from bone names (Mixamo, UE, Rigify, SMPL, MakeHuman, CC/Daz-like spellings) and the hierarchy:
    side-less limb keywords, spine bones spread along the hips -> neck path, fingers in chain order."""
    roles: dict = {}
    split = [_split_side(n) for n in names]
    has_clavicle = {s for (b, s) in split if re.search(r"clavicle|collar", b)}
    for (base, side), name in zip(split, names, strict=True):
        if _HELPER.search(base):
            continue
        for role, pat in _KEYWORDS:
            if not re.search(pat, base):
                continue
            if role == "shoulder" and pat == r"^shoulder$" and side in has_clavicle:
                role = "upper_arm"  # SMPL: collar = clavicle, shoulder = upper arm
            if role == "thigh" and not side:
                break
            key = role + side if role in LIMB_ROLES else role
            if (role in LIMB_ROLES) != bool(side):
                break
            roles.setdefault(key, name)
            break
    _guess_spine(roles, names, parents)
    _guess_fingers(roles, names, parents, split)
    return roles


def _path_up(i: int, stop: int, parents) -> list[int]:
    out = []
    while i >= 0 and i != stop:
        out.append(i)
        i = int(parents[i])
    return out[::-1] if i == stop else []


def _guess_spine(roles: dict, names: list[str], parents) -> None:
    index = {n: i for i, n in enumerate(names)}
    if "hips" not in roles or "neck" not in roles and "head" not in roles:
        return
    top = roles.get("neck", roles.get("head"))
    path = _path_up(index[top], index[roles["hips"]], parents)[:-1]  # hips (excluded) .. neck (excluded)
    if not path:
        return
    roles.setdefault("spine", names[path[0]])
    if len(path) >= 2:
        roles.setdefault("chest", names[path[len(path) // 2] if len(path) >= 3 else path[-1]])
    if len(path) >= 3:
        roles.setdefault("upper_chest", names[path[-1]])


def _guess_fingers(roles: dict, names: list[str], parents, split) -> None:
    index = {n: i for i, n in enumerate(names)}
    for side in SIDES:
        hand = roles.get("hand" + side)
        if hand is None:
            continue
        for finger in FINGERS:
            chain = [i for i, (b, s) in enumerate(split) if s == side and finger in b and "metacarpal" not in b
                     and index[hand] in _ancestors(i, parents)]
            chain.sort(key=lambda i: len(_ancestors(i, parents)))
            for k, i in enumerate(chain[:3]):
                roles.setdefault(f"{finger}.0{k + 1}{side}", names[i])


def _ancestors(i: int, parents) -> set[int]:
    out = set()
    while parents[i] >= 0:
        i = int(parents[i])
        out.add(i)
    return out
