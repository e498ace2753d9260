"""The heat models: quantile regressors of daily temperatures, station quality control, heat levels, scores."""
