"""Spiders: they fetch and follow; page objects turn what they fetch into items."""
