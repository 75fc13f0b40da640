"""A new judgement or vote marks the cached report pending; the real worker recomputes it through the real broker."""
import time
import uuid

import pytest

from annotation.services.queue import assignment_next, judgement_submit
from annotation.vocabulary import TaskKind
from evaluation.models import ReportCache
from evaluation.report_cache import QUALITY, STUDY_RESULTS, report_cached
from studies.services.voting import trial_next, vote_submit
from tests.studies.builders import study_with_systems
from tests.work_data import work_project

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _recomputed(row: ReportCache, *, worker, timeout_s: float = 60) -> ReportCache:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row.refresh_from_db()
        if not row.pending:
            return row
        time.sleep(0.2)
    pytest.fail(f"the worker did not recompute {row} within {timeout_s} s:\n{worker.log_tail(80)}")


def test_a_judgement_marks_the_quality_report_pending_and_the_worker_recomputes_it(celery_worker, worker_media_root, project, annotator_member):
    work_project(project, kinds=[TaskKind.RATING], images=2)
    row = report_cached(kind=QUALITY, object_id=project.pk, project_id=project.pk)
    assert sum(a["judgements"] for a in row.data["annotators"]) == 0 and not row.pending
    lease = assignment_next(project=project, annotator=annotator_member).lease
    judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer={"level": 4})
    row.refresh_from_db()
    assert row.pending and row.stamp == 1
    row = _recomputed(row, worker=celery_worker)
    assert sum(a["judgements"] for a in row.data["annotators"]) == 1 and row.data["project_id"] == project.pk
    assert "evaluation.report_refresh" in celery_worker.log_path.read_text()


def test_a_vote_marks_the_study_results_pending_and_the_worker_recomputes_them(celery_worker, project, researcher, annotator_member):
    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member], n_images=2)
    row = report_cached(kind=STUDY_RESULTS, object_id=study.pk, project_id=project.pk)
    assert row.data["n_votes"] == 0
    trial = trial_next(study=study, annotator=annotator_member)
    vote_submit(token=trial.token, annotator=annotator_member, choice="left", client_id=uuid.uuid4())
    row.refresh_from_db()
    assert row.pending
    row = _recomputed(row, worker=celery_worker)
    assert row.data["n_votes"] == 1 and row.data["study"]["id"] == study.pk
