"""Feature files built once per input: static layers on the city grid, daily drivers per issue date."""
