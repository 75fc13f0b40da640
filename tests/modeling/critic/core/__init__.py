"""Tests of the critic's Django-free core (modeling/critic/core/)."""
