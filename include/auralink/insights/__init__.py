"""Cost-optimization insights, refreshed nightly with evidence and an estimated monthly saving."""
