"""Tests of pair selection (modeling/selection/)."""
