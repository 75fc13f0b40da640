"""Images and pools, and annotators' work."""
