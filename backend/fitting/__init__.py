"""Fitting: per-frame detections -> body-model motion (batched whole-sequence optimisation in torch)."""
