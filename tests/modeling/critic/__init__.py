"""Tests of the critic core (modeling/critic/)."""
