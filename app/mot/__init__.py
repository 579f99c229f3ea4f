"""MOTChallenge text files: reading, writing and scoring (``files``), and stored tracks as MOT rows
(``export``)."""
