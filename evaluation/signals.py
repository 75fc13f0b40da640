"""Signals the evaluation app sends, so other apps can follow its results without evaluation importing them."""
from django.dispatch import Signal

#: Sent once a scaling run's scores are committed. kwargs: `project`, `run` (status `done`).
#: modeling listens to refill the proposed-pair queue from the new posterior (modeling/apps.py).
scaling_run_done = Signal()
