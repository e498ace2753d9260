"""The one forecast path: the models run, the feature frame, the layers, the daily grid, tiles."""
