"""The researcher's pair-queue page: the pairs the active selector proposed and where each stands."""
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views import View

from annotation.views.access import ProjectResearcherMixin
from evaluation.selectors import scaling_run_current
from modeling.selection.selectors import PROPOSAL_STATES, proposed_pair_counts, proposed_pairs
from modeling.selection.services import pair_queue_refill_run

PAIRS_PER_PAGE = 50


class PairQueueView(ProjectResearcherMixin, View):
    """The pairs the active selector proposed: where each stands, its strategy, gain and critic; POST refills now."""

    def get(self, request, project_id):
        state = request.GET.get("state")
        state = state if state in PROPOSAL_STATES else None
        items = proposed_pairs(project=self.project, state=state)
        context = {
            "project": self.project,
            "counts": proposed_pair_counts(project=self.project),
            "states": PROPOSAL_STATES,
            "state": state,
            "page": Paginator(items, PAIRS_PER_PAGE).get_page(request.GET.get("page")),
            "current": scaling_run_current(project=self.project),
        }
        return render(request, "modeling/selection/pair_queue.html", context)

    def post(self, request, project_id):
        result = pair_queue_refill_run(self.project)
        text = f"Added {result.added} pair{'s' if result.added != 1 else ''}"
        if result.strategy_used:
            text += f" chosen by {result.strategy_used}"
        if result.retired:
            text += f"; {result.retired} older unserved proposal{'s' if result.retired != 1 else ''} retired"
        text += "."
        if result.note:
            text += f" {result.note}"
        (messages.success if result.added else messages.info)(request, text)
        return redirect("evaluation:pair_queue", project_id=self.project.pk)
