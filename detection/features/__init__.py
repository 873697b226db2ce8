"""Feature extractors shared by detector kinds."""
