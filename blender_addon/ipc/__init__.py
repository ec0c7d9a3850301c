"""bpy-free inter-process code: the wire protocol and the client the add-on uses to talk to the backend.

Standard library only, so Blender's bundled Python can import it.
"""
