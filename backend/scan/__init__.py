"""Scans and point clouds -> a fitted body: reading (``reader``), global alignment (``align``), the pose/shape fit
(``fit``), the detail layer (``detail``), skin-weight transfer onto the scan (``skin``), the rigged-GLB writer
(``glb``), the job functions (``jobs``) and the CLI ``python -m backend scan fit | rig`` (``cli``)."""
