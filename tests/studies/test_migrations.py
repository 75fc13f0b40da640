"""The studies migrations carry an existing database: votes survive the move to per-annotator client ids."""
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from studies.models import TrialLease, Vote
from studies.services.voting import trial_next, vote_submit
from tests.factories import AnnotatorFactory, MembershipFactory, ProjectFactory, ResearcherFactory
from tests.studies.builders import study_with_systems

BEFORE = [("studies", "0002_run_kernel")]
AFTER = [("studies", "0003_vote_client_id_per_annotator")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_vote_client_id_becomes_unique_per_annotator_on_an_existing_database():
    """Votes written under the global rule are kept by the migration; afterwards two annotators may share an id,
    one annotator may not use it twice."""
    project, researcher = ProjectFactory(), ResearcherFactory()
    annotators = [AnnotatorFactory(), AnnotatorFactory()]
    for user in annotators:
        MembershipFactory(project=project, user=user)
    study = study_with_systems(project=project, researcher=researcher, annotators=annotators, n_images=3)
    first = vote_submit(token=trial_next(study=study, annotator=annotators[0]).token, annotator=annotators[0],
                        choice="left", client_id=uuid.uuid4()).vote
    try:
        _migrate(BEFORE)
        _migrate(AFTER)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # the latest schema, for the next tests
    assert Vote.objects.get().pk == first.pk

    shared = vote_submit(token=trial_next(study=study, annotator=annotators[1]).token, annotator=annotators[1],
                         choice="right", client_id=first.client_id).vote
    assert shared.client_id == first.client_id
    lease = TrialLease.objects.get(token=trial_next(study=study, annotator=annotators[0]).token)  # no vote yet
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(lease=lease, trial=lease.trial, annotator=annotators[0], outcome=0, left_is_a=True,
                            client_id=first.client_id)
