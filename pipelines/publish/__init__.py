"""One issue date's published files: grid, COGs, maps, the interactive page, STAC, artifacts."""
