"""Sources that fill a city bundle from services on the network (docs/live-city.md); the demo world is pipelines.demo_world."""
