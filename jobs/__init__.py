"""Jobs: what orchestrates a run — plan it under the writer lock, crawl, reparse, seed, drain.

The top of the house but for ``scheduler.py`` and ``cli.py``: a job may import every
layer below it (storage, extraction, pipelines, spiders); nothing below imports a job.
"""
