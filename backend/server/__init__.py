"""The backend's local job server: the process the add-on starts and talks to over ``blender_addon.ipc``."""
