"""qa-scoring: nightly QA audit of Wolkvox chat and email interactions."""

__version__ = "0.1.0"
