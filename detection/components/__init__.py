"""Parts shared by several detector kinds (anomalib's ``models/components`` idea)."""
