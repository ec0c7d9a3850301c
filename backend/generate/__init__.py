"""Random and interpolated humans: factor samplers (shape prior, detail layers, face, pose/motion sources),
reproducible by seed, each factor changeable alone (``python -m backend generate ...``)."""
