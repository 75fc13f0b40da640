"""Tests of the LLM's help (modeling/assist/)."""
