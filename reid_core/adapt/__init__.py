"""Site adaptation: teaching the PGFA encoder a site's people from its own tracks, without labels.

Pure torch/numpy maths (the store and video side lives in ``app.training``):

- ``augment``: camera-imitating augmentations (mirror, scale/shift, white balance, colour, blur,
  resolution loss, occluding patches) that move the keypoints with the pixels, so the PGFA heatmaps and
  stripe visibility follow every transform;
- ``losses``: the eq. 8 similarity on training features, a pseudo-identity memory contrast and a
  cannot-link margin loss;
- ``views``: augmented views of every crop, pushed once through the frozen front of the trunk;
- ``trainer``: the training loop over those cached views, with periodic pseudo-identity refresh.
"""
