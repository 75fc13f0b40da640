"""Server-rendered pages of the annotation app, one module per concept."""
