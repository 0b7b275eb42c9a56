"""An Informburo-style mirror we write ourselves, and a small local server for it.

Tests, the demo and the benchmarks crawl it through the real Scrapy engine; it
follows ``docs/anatomy.md`` so that what works here works on the live site.
"""
