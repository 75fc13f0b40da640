"""Scaling, metrics, side-by-side studies, benchmarks, agreement and screening."""
