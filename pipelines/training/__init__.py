"""Training: inputs, the flood and heat fits with their held-out scores, model cards and figures."""
