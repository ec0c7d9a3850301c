"""Sidebar panels and lists (bpy zone)."""
