"""The one list of body-model, gender and Anny phenotype names (bpy-free), shared by the add-on's properties and
operators, the job contracts and the backend."""

from __future__ import annotations

MODEL_NAMES = ("anny", "smplx", "smplh", "smpl", "flame", "mano")  # every model the backend loads
BODY_MODELS = ("anny", "smplx", "smplh", "smpl")  # whole bodies: the Body panel's choices
SCAN_MODELS = BODY_MODELS + ("mano",)  # what a scan can be fitted with (MANO: a hand scan)
GENDERS = ("neutral", "female", "male")
HAND_SIDES = ("right", "left")  # MANO's variants in place of a gender
ANNY_PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")  # each in [0, 1]
ANNY_GENDER_PHENOTYPE = {"male": 0.0, "neutral": 0.5, "female": 1.0}  # a gender name as Anny's gender phenotype
