"""Tests of the Django-free selector and critic prior (modeling/selection/core/)."""
