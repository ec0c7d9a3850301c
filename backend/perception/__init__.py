"""Perception: frames from video or image folders -> per-frame 2D/3D landmarks and person masks (MediaPipe)."""
