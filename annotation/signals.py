"""Signals the annotation app sends; other apps connect to them so that annotation never imports them."""
from django.dispatch import Signal

#: Sent once per newly written judgement, after its transaction commits (never for a resubmission).
#: `sender` is the Project class; keyword arguments: `project` (Project), `judgement` (Judgement).
#: The active-selection wiring (modeling) listens to refill the proposed-pair queue.
judgements_submitted = Signal()

#: Sent once per new TextRevision (status "drafting"), after its transaction commits.
#: `sender` is the Project class; keyword arguments: `project` (Project), `revision` (TextRevision).
#: modeling listens and enqueues the LLM draft; it reports back through annotation.services.revisions.
draft_requested = Signal()

#: Sent once an annotator's data was excluded or restored, after its transaction commits.
#: `sender` is the Project class; keyword arguments: `project` (Project), `event` (ExclusionEvent).
#: evaluation listens and re-scales the project without (or again with) those judgements.
annotator_exclusion_changed = Signal()

#: Sent once an annotator undid their last answer (its judgement is deleted), after the transaction commits.
#: `sender` is the Project class; keyword arguments: `project` (Project), `lease` (Lease, active again).
judgement_undone = Signal()

#: Sent by the work page before it serves an annotator's next item (and again, with `no_work=True`, when the
#: queue has none left). `sender` is the Project class; keyword arguments: `request`, `project` (Project),
#: `no_work` (bool). A receiver returns None, or an HttpResponse to show in the item's place (crowd's completion
#: code for a participant who has done their share).
work_item_override = Signal()
