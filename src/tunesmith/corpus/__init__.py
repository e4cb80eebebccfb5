"""Getting a corpus in: finding sources, parsing them fast and safely, choosing tracks, describing the result."""
