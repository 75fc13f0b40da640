"""Dataset exports: every dataset of a project out as files other tools read (see exports/formats.py)."""
