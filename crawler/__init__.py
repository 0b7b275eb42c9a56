"""The Scrapy project: settings, items, page objects and spiders for Informburo-style sites."""
