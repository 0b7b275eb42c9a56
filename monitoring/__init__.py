"""Monitoring (docs/monitoring.md): monitors of each run, checks across runs, incidents and their alerts."""
