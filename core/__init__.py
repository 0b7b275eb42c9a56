"""The ground floor: clock, URL canon, shared names and the configuration. Imports nothing of ours.

Every other package may import from here; nothing here imports from them
(tests/test_layers.py keeps it so).
"""
