"""ordervault's test suite (kept importable as `tests` ahead of ebaysdk's stray package)."""
