"""A one-page dashboard of forecasts and model health, from the local registry and run outputs."""
