"""Flood warnings: areas and their chance, levels tied to actions, warning polygons, water at the door."""
