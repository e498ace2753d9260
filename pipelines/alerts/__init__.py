"""Heritage managers' messages: alert state, CAP 1.2, words and advice, digests, delivery."""
