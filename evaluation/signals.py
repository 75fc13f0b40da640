"""Signals the evaluation app sends, so other apps can follow its results without evaluation importing them."""
from django.dispatch import Signal

#: Sent once a scaling run's scores are committed. kwargs: `project`, `run` (status `done`).
#: modeling listens to refill the proposed-pair queue from the new posterior (modeling/apps.py).
scaling_run_done = Signal()

#: Sent while the quality report is built. kwargs: `project`. Each receiver returns a dict of report sections
#: (JSON-ready values) that join the report; modeling adds the critic's held-out metrics (`critic`).
quality_report_sections = Signal()

#: Sent when the Scores page or a scores export says what its scores are. kwargs: `project`. Each receiver returns
#: a sentence for people, or "": modeling says when pairs are chosen with a critic's prior (`scores_provenance`).
scores_selection_note = Signal()
