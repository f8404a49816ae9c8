"""catalog-concepts: everything but the design card's folders (catalog, policies, flows, tasks) lives here.

One package, so `pip install` adds five top-level names to site-packages instead of generic ones
such as `storage` or `review` (README, "Layout").
"""
