"""The researcher's Workers page: what the GPU workers last said about their devices."""
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views import View

from annotation.views.access import ResearcherRequiredMixin
from modeling.gpu_queue import gpu_queue_busy_with
from modeling.models import DeviceReport
from modeling.tasks import device_report_request

RECENT_REPORTS = 20


class WorkersView(ResearcherRequiredMixin, View):
    """Recent device reports; POST asks a `gpu`-queue worker for a fresh one."""

    def get(self, request):
        # A plain recent-rows read; it moves to modeling/selection/selectors.py once that module exists.
        reports = DeviceReport.objects.order_by("-reported_at", "-id")[:RECENT_REPORTS]
        return render(request, "modeling/workers.html", {"reports": reports, "busy": gpu_queue_busy_with()})

    def post(self, request):
        device_report_request()
        busy = gpu_queue_busy_with()
        if busy:
            messages.success(request, "Asked a GPU worker to report its device; it is busy with " + "; ".join(busy) + ", and answers once that is done.")
        else:
            messages.success(request, "Asked a GPU worker to report its device; reload in a few seconds to see its answer.")
        return redirect("workers")
