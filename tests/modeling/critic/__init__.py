"""Tests of the critic (modeling/critic/): its services, runs and pages; core/ tests its Django-free core."""
