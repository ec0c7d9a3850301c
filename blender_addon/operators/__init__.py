"""Operators (bpy zone): backend control, body, capture/avatar and export. Long ones run as backend jobs."""
