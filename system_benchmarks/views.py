"""The researcher's Benchmarks pages: runs with live progress, results table and plot, downloads, challenge sets."""
import json

from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views import View

from annotation.views.access import ProjectResearcherMixin
from system_benchmarks import selectors
from system_benchmarks.forms import BenchmarkRunForm, ChallengeSetForm
from system_benchmarks.models import BenchmarkCall, BenchmarkRun
from system_benchmarks.plots import cells_bars_svg
from system_benchmarks.services import challenges, results
from system_benchmarks.services.runs import BenchmarkError, RunSpec, benchmark_run_cancel, benchmark_run_create, benchmark_run_resume, labelled_pool


def _index_context(project, form=None) -> dict:
    versions = list(selectors.critic_versions_trained(project=project))
    return {
        "project": project, "tab": "benchmarks",
        "runs": list(selectors.benchmark_runs(project=project)[:100]),
        "challenges": list(selectors.challenge_sets(project=project)[:100]),
        "n_labelled": len(labelled_pool(project=project)),
        "form": form or BenchmarkRunForm(versions=versions),
    }


class BenchmarkIndexView(ProjectResearcherMixin, View):
    """The project's runs and challenge sets, and the form that starts a run."""

    def get(self, request, project_id):
        return render(request, "system_benchmarks/index.html", _index_context(self.project))


class BenchmarkCreateView(ProjectResearcherMixin, View):
    def post(self, request, project_id):
        versions = list(selectors.critic_versions_trained(project=self.project))
        form = BenchmarkRunForm(request.POST, versions=versions)
        if form.is_valid():
            data = form.cleaned_data
            try:
                spec = RunSpec(
                    system_kind=data["system_kind"], protocols=data["protocols"], promptings=data["promptings"],
                    subset_size=data["subset_size"], seed=data["seed"], rounds=data["rounds"], list_size=data["list_size"],
                    endpoint_base_url=data["endpoint_base_url"], endpoint_model=data["endpoint_model"],
                    endpoint_key_env=data["endpoint_key_env"], name=data["name"], full_reference=data["full_reference"],
                    critic_version_id=int(data["critic_version"]) if data["critic_version"] else None,
                )
                run = benchmark_run_create(project=self.project, user=request.user, spec=spec)
            except BenchmarkError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, f"Benchmark #{run.pk} is queued: {run.n_calls} calls.")
                return redirect("benchmarks:run", project_id=self.project.pk, benchmark_run_id=run.pk)
        return render(request, "system_benchmarks/index.html", _index_context(self.project, form), status=400)


class _RunMixin(ProjectResearcherMixin):
    run: BenchmarkRun

    def run_get(self) -> BenchmarkRun:
        run = selectors.benchmark_run_get(project=self.project, run_id=self.kwargs["benchmark_run_id"])
        if run is None:
            raise Http404("No such benchmark run in this project.")
        self.run = run
        return run


def _run_context(project, run, challenge_form=None) -> dict:
    cells = (run.results or {}).get("cells", [])
    return {
        "project": project, "tab": "benchmarks", "run": run, "cells": cells,
        "plot": mark_safe(cells_bars_svg(cells)),  # every label is escaped in cells_bars_svg
        "progress_percent": round(100 * run.n_done / run.n_calls) if run.n_calls else 0,
        "problem_calls": list(selectors.benchmark_calls(run=run).exclude(status__in=[BenchmarkCall.Status.PENDING, BenchmarkCall.Status.ANSWERED])[:20]),
        "challenge_form": challenge_form or ChallengeSetForm(cells=list((run.predictions or {}).keys())),
    }


class BenchmarkRunView(_RunMixin, View):
    """One run: progress (htmx polls the live part while it runs), results, downloads, difficult-sample selection."""

    def get(self, request, project_id, benchmark_run_id):
        run = self.run_get()
        context = _run_context(self.project, run)
        template = "system_benchmarks/_run_live.html" if request.htmx else "system_benchmarks/run.html"
        return render(request, template, context)


class _RunActionView(_RunMixin, View):
    def act(self, run):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def post(self, request, project_id, benchmark_run_id):
        try:
            messages.success(request, self.act(self.run_get()))
        except BenchmarkError as error:
            messages.error(request, str(error))
        return redirect("benchmarks:run", project_id=self.project.pk, benchmark_run_id=self.run.pk)


class BenchmarkCancelView(_RunActionView):
    def act(self, run):
        run = benchmark_run_cancel(run=run)
        return f"Benchmark #{run.pk}: cancel requested." if run.is_active else f"Benchmark #{run.pk} is cancelled."


class BenchmarkResumeView(_RunActionView):
    def act(self, run):
        run = benchmark_run_resume(run=run)
        return f"Benchmark #{run.pk} is queued again; answered calls are kept."


class BenchmarkCsvView(_RunMixin, View):
    def get(self, request, project_id, benchmark_run_id):
        run = self.run_get()
        response = HttpResponse(results.results_csv(run=run), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="benchmark-{run.pk}.csv"'
        return response


class BenchmarkCallsCsvView(_RunMixin, View):
    """Every call with its raw answer, what it parsed to and why not: to check the parser on a system's answers."""

    def get(self, request, project_id, benchmark_run_id):
        run = self.run_get()
        response = StreamingHttpResponse(results.calls_csv_rows(run=run), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="benchmark-{run.pk}-calls.csv"'
        return response


class BenchmarkJsonView(_RunMixin, View):
    def get(self, request, project_id, benchmark_run_id):
        run = self.run_get()
        response = JsonResponse(results.results_json(run=run), json_dumps_params={"indent": 2})
        response["Content-Disposition"] = f'attachment; filename="benchmark-{run.pk}.json"'
        return response


class ChallengeCreateView(_RunMixin, View):
    """Choose hard, diverse images from this run's predictions (paper 004, eq. 5) and save them as a challenge set."""

    def post(self, request, project_id, benchmark_run_id):
        run = self.run_get()
        form = ChallengeSetForm(request.POST, cells=list((run.predictions or {}).keys()))
        if form.is_valid():
            data = form.cleaned_data
            try:
                challenge = challenges.challenge_set_create(
                    run=run, cell=data["cell"], n_select=data["n_select"], lam=data["lam"], epsilon=data["epsilon"],
                    name=data["name"], user=request.user, per_reference=data["per_reference"],
                )
            except BenchmarkError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, f"Challenge set “{challenge.name}” saved with {len(challenge.image_ids)} images.")
                return redirect("benchmarks:challenge", project_id=self.project.pk, challenge_set_id=challenge.pk)
        return render(request, "system_benchmarks/run.html", _run_context(self.project, run, form), status=400)


class _ChallengeMixin(ProjectResearcherMixin):
    def challenge_get(self):
        challenge = selectors.challenge_set_get(project=self.project, challenge_id=self.kwargs["challenge_set_id"])
        if challenge is None:
            raise Http404("No such challenge set in this project.")
        return challenge


class ChallengeView(_ChallengeMixin, View):
    def get(self, request, project_id, challenge_set_id):
        challenge = self.challenge_get()
        context = {"project": self.project, "tab": "benchmarks", "challenge": challenge, "items": challenge.items}
        return render(request, "system_benchmarks/challenge.html", context)


class ChallengeCsvView(_ChallengeMixin, View):
    def get(self, request, project_id, challenge_set_id):
        challenge = self.challenge_get()
        response = HttpResponse(challenges.challenge_set_csv(challenge=challenge), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="challenge-set-{challenge.pk}.csv"'
        return response


class ChallengeJsonView(_ChallengeMixin, View):
    def get(self, request, project_id, challenge_set_id):
        challenge = self.challenge_get()
        response = HttpResponse(json.dumps(challenges.challenge_set_json(challenge=challenge), indent=2), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="challenge-set-{challenge.pk}.json"'
        return response
