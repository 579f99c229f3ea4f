"""reid_core: the PGFA person re-identification model and its maths, in pure torch + numpy.

Modules: ``pose`` (keypoints -> heatmaps, visibility), ``backbones``, ``model`` (PGFA),
``encoder`` (crops -> embeddings), ``matching`` (eq. 8 distances), ``weights`` (weight
resolution, checkpoints). Nothing here imports cv2, Qt, SQLAlchemy or ultralytics.
"""
