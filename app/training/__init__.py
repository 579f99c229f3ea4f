"""Training support with side effects: pose keypoints for re-ID dataset images (``keypoints``)."""
