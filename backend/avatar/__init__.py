"""SMPLpix neural avatars: rasterize the fitted body with a fixed per-vertex colour code, train a UNet to turn that
raster into the person's video frame, then render any new motion (or shape) by rasterizing it and running the net.

    raster.py      pure-torch z-buffer rasterizer (CPU/CUDA), attribute interpolation, supersampled coverage
    render.py      the network input (colour code, normals, depth, coverage) of posed meshes
    body.py        body models (``backend.bodymodels`` or the built-in ``procedural`` one) posed from a Motion
    dataset.py     video + Motion -> cropped, aligned (raster, frame, mask) arrays, time-block split
    unet.py        the network; losses.py: SSIM/PSNR, optional VGG loss from a local weights file
    train.py       training (augmentation, AMP, resumable checkpoints, progress/cancel); config.py: TrainConfig
    evaluate.py    held-out PSNR/SSIM report + side-by-side PNG
    infer.py       ONNX export, onnxruntime sessions, rendering a motion to RGBA PNGs
    cli.py, jobs.py  ``python -m backend avatar ...`` and the server jobs ``train_avatar`` / ``render_avatar``
    synthetic.py   synthetic clips of the procedural body (backend/bodymodels/procedural.py) for tests, benchmarks
"""
