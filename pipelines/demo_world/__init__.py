"""The synthetic George Town: a city bundle generated offline from a seed, with its truth beside it."""
