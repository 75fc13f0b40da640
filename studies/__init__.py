"""Blinded side-by-side studies: systems answer an instruction about images, annotators vote, results rank the systems."""
