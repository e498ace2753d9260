"""Evaluation: the backtest (refits, hindcasts, verification, report) and the cards' truth scores.

The only package that reads the demo truth.
"""
