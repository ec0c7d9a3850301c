"""Farm: batch conversion as one idempotent job per input, on a local process pool or Ray (Flamenco/OpenJD call
the same CLI). ``job.py`` is the per-input job, ``engines.py`` runs many of them."""
