"""Comparing audits over time: baselines, the CI gate, drift between two scans, their rendering."""
