"""Operators (bpy zone): backend control, body, estimate, avatar, the Video to Avatar chain and export."""
