"""tunesmith: learn to compose music from a corpus of symbolic music with deep sequence models."""

__version__ = "0.1.0"
