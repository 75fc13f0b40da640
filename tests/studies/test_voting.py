"""Voting: trials handed out by lease with recorded sides, never repeated, idempotent votes; the annotator API."""
import random
import uuid

import pytest
from django.urls import reverse

from studies.models import Trial, TrialLease, Vote
from studies.services import StudyError
from studies.services.voting import ClientIdReused, LeaseClosed, LeaseNotFound, NoTrial, NotStudyAnnotator, lease_skip, trial_next, vote_submit
from tests.factories import AnnotatorFactory, MembershipFactory
from tests.studies.builders import study_with_systems

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_annotator(project):
    user = AnnotatorFactory()
    MembershipFactory(project=project, user=user)
    return user


@pytest.fixture
def study(project, researcher, annotator_member, second_annotator):
    return study_with_systems(project=project, researcher=researcher, annotators=[annotator_member, second_annotator], n_images=3)


def test_left_right_maps_to_outcome_relative_to_a(study, annotator_member):
    """A vote for the left answer is +1 (A better) when A was on the left and -1 when B was."""
    for seed in range(2):
        trial = trial_next(study=study, annotator=annotator_member, rng=random.Random(seed))
        lease = TrialLease.objects.get(token=trial.token)
        vote = vote_submit(token=trial.token, annotator=annotator_member, choice="left", client_id=uuid.uuid4()).vote
        assert vote.outcome == (1 if lease.left_is_a else -1)
        a_text = lease.trial.item.answers.get(system=lease.trial.system_a).text
        assert (trial.left_text == a_text) == lease.left_is_a


def test_each_annotator_gets_each_trial_once_and_trials_fill_up(study, annotator_member, second_annotator):
    """An annotator never gets a trial twice; with 2 votes per trial two annotators use up all of them."""
    for user in (annotator_member, second_annotator):
        seen = []
        while True:
            try:
                trial = trial_next(study=study, annotator=user)
            except NoTrial:
                break
            seen.append(TrialLease.objects.get(token=trial.token).trial_id)
            vote_submit(token=trial.token, annotator=user, choice="same", client_id=uuid.uuid4())
        assert len(seen) == len(set(seen)) == 3
    assert set(Trial.objects.filter(study=study).values_list("vote_count", flat=True)) == {2}


def test_asking_twice_returns_the_open_lease(study, annotator_member):
    """Until they vote, the annotator is shown the same trial (same token) again."""
    first = trial_next(study=study, annotator=annotator_member)
    assert trial_next(study=study, annotator=annotator_member).token == first.token
    assert TrialLease.objects.filter(annotator=annotator_member).count() == 1


def test_votes_are_idempotent_and_double_submit_safe(study, annotator_member):
    """The same client id and vote returns the first vote; a second submit with a new id on the same lease does too;
    the same client id with another vote is refused with the vote kept."""
    trial = trial_next(study=study, annotator=annotator_member)
    client_id = uuid.uuid4()
    first = vote_submit(token=trial.token, annotator=annotator_member, choice="left", client_id=client_id)
    again = vote_submit(token=trial.token, annotator=annotator_member, choice="left", client_id=client_id)
    with pytest.raises(ClientIdReused) as reused:
        vote_submit(token=trial.token, annotator=annotator_member, choice="right", client_id=client_id)
    assert reused.value.stored == {"choice": "left", "criteria_left": None, "criteria_right": None}
    other_tab = vote_submit(token=trial.token, annotator=annotator_member, choice="right", client_id=uuid.uuid4())
    assert first.created and not again.created and not other_tab.created
    assert again.vote.pk == other_tab.vote.pk == first.vote.pk
    assert Vote.objects.count() == 1 and Trial.objects.get(leases__token=trial.token).vote_count == 1


def test_bad_votes_and_foreign_tokens_are_refused(study, annotator_member, second_annotator):
    """Another annotator's token is 'not found'; a bad choice or criteria is a clear error; skipped is closed."""
    trial = trial_next(study=study, annotator=annotator_member)
    with pytest.raises(LeaseNotFound):
        vote_submit(token=trial.token, annotator=second_annotator, choice="left", client_id=uuid.uuid4())
    with pytest.raises(StudyError, match="choice must be one of"):
        vote_submit(token=trial.token, annotator=annotator_member, choice="up", client_id=uuid.uuid4())
    with pytest.raises(StudyError, match="criteria_left must be a list of 3 booleans"):
        vote_submit(token=trial.token, annotator=annotator_member, choice="left", client_id=uuid.uuid4(), criteria_left=[True])
    with pytest.raises(StudyError, match="client_id must be a UUID"):
        vote_submit(token=trial.token, annotator=annotator_member, choice="left", client_id="nope")
    lease_skip(token=trial.token, annotator=annotator_member)
    with pytest.raises(LeaseClosed):
        vote_submit(token=trial.token, annotator=annotator_member, choice="left", client_id=uuid.uuid4())
    assert trial_next(study=study, annotator=annotator_member).token != trial.token


def test_unassigned_annotator_gets_no_trial(study, project):
    """A project annotator not assigned to the study is refused."""
    outsider = AnnotatorFactory()
    MembershipFactory(project=project, user=outsider)
    with pytest.raises(NotStudyAnnotator):
        trial_next(study=study, annotator=outsider)


def test_criteria_are_stored_per_system(study, annotator_member):
    """Criteria ticked for the left and right answers are stored against systems A and B."""
    trial = trial_next(study=study, annotator=annotator_member)
    lease = TrialLease.objects.get(token=trial.token)
    vote = vote_submit(token=trial.token, annotator=annotator_member, choice="same", client_id=uuid.uuid4(),
                       criteria_left=[True, True, True], criteria_right=[True, False, True]).vote
    left_system_criteria = vote.criteria_a if lease.left_is_a else vote.criteria_b
    assert left_system_criteria == [True, True, True]


def test_annotator_api_next_and_vote(client, study, annotator_member):
    """POST next gives a blinded trial; POST vote is 201, then 200 for the same client id; done means 404 no_trial."""
    client.force_login(annotator_member)
    next_url = reverse("api:study_trial_next", kwargs={"study_id": study.pk})
    for _ in range(3):
        body = client.post(next_url).json()
        assert set(body) == {"token", "instruction", "image_url", "reference_url", "left", "right", "ask_criteria", "criteria",
                             "done", "remaining", "vote_url"}
        payload = {"client_id": str(uuid.uuid4()), "choice": "right"}
        assert client.post(body["vote_url"], payload, content_type="application/json").status_code == 201
        again = client.post(body["vote_url"], payload, content_type="application/json")
        assert again.status_code == 200 and again.json()["choice"] == "right"
    done = client.post(next_url)
    assert done.status_code == 404 and done.json()["code"] == "no_trial"
    bad = client.post(body["vote_url"].replace(body["token"], "x" + body["token"]), payload, content_type="application/json")
    assert bad.status_code == 404 and bad.json()["code"] == "lease_not_found"


def test_vote_page_submits_and_moves_on(client, study, annotator_member):
    """The page form records the vote (choice as shown) and redirects to the next trial."""
    client.force_login(annotator_member)
    url = reverse("studies:vote", kwargs={"study_id": study.pk})
    page = client.get(url)
    token = page.context["trial"].token
    response = client.post(url, {"token": token, "choice": "left", "client_id": str(page.context["client_id"]), "duration_ms": "1234"})
    assert response.status_code == 302 and response["Location"] == url
    vote = Vote.objects.get(lease__token=token)
    assert vote.duration_ms == 1234 and vote.outcome == (1 if vote.left_is_a else -1)
    assert client.get(url).context["trial"].token != token


def test_live_leases_hold_a_slot_and_expired_ones_free_it(project, researcher, annotator_member, second_annotator):
    """With one vote wanted, a trial leased to one annotator is not given to another until the lease expires."""
    from datetime import timedelta

    from django.utils import timezone

    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member, second_annotator],
                               n_images=1, votes_per_trial=1)
    first = trial_next(study=study, annotator=annotator_member)
    with pytest.raises(NoTrial):
        trial_next(study=study, annotator=second_annotator)
    TrialLease.objects.filter(token=first.token).update(expires_at=timezone.now() - timedelta(seconds=1))
    second = trial_next(study=study, annotator=second_annotator)
    assert TrialLease.objects.get(token=second.token).trial_id == TrialLease.objects.get(token=first.token).trial_id


def test_a_late_vote_counts_only_while_the_trial_still_needs_it(project, researcher, annotator_member, second_annotator):
    """An expired lease whose slot went to someone who voted is refused; one whose trial still needs a vote counts."""
    from datetime import timedelta

    from django.utils import timezone

    study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member, second_annotator],
                               n_images=1, votes_per_trial=1)
    late = trial_next(study=study, annotator=annotator_member)
    TrialLease.objects.filter(token=late.token).update(expires_at=timezone.now() - timedelta(seconds=1))
    other = trial_next(study=study, annotator=second_annotator)
    vote_submit(token=other.token, annotator=second_annotator, choice="left", client_id=uuid.uuid4())
    with pytest.raises(LeaseClosed):
        vote_submit(token=late.token, annotator=annotator_member, choice="right", client_id=uuid.uuid4())
    assert Trial.objects.get().vote_count == 1 and Vote.objects.count() == 1

    second_study = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member], n_images=1,
                                      votes_per_trial=1)
    slow = trial_next(study=second_study, annotator=annotator_member)
    TrialLease.objects.filter(token=slow.token).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert vote_submit(token=slow.token, annotator=annotator_member, choice="same", client_id=uuid.uuid4()).created


def test_the_vote_page_refuses_a_token_from_another_study(client, project, researcher, annotator_member):
    """A token posted to another study's vote page is refused there and records nothing."""
    first = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member], n_images=1)
    second = study_with_systems(project=project, researcher=researcher, annotators=[annotator_member], n_images=1)
    trial = trial_next(study=first, annotator=annotator_member)
    client.force_login(annotator_member)
    response = client.post(reverse("studies:vote", kwargs={"study_id": second.pk}),
                           {"token": trial.token, "choice": "left", "client_id": str(uuid.uuid4())}, follow=True)
    assert "No such trial." in response.content.decode()
    assert not Vote.objects.exists()


def test_client_ids_are_per_annotator(study, annotator_member, second_annotator):
    """Another annotator may use the same client id: it is recorded as their own vote, and tells nothing."""
    client_id = uuid.uuid4()
    first = vote_submit(token=trial_next(study=study, annotator=annotator_member).token, annotator=annotator_member,
                        choice="left", client_id=client_id)
    second = vote_submit(token=trial_next(study=study, annotator=second_annotator).token, annotator=second_annotator,
                         choice="right", client_id=client_id)
    assert first.created and second.created and first.vote.pk != second.vote.pk


def test_vote_api_409_and_page_message_for_a_reused_client_id(client, study, annotator_member):
    """The API answers 409 client_id_reused with the vote kept; the page says the first vote is kept."""
    client.force_login(annotator_member)
    body = client.post(reverse("api:study_trial_next", kwargs={"study_id": study.pk})).json()
    payload = {"client_id": str(uuid.uuid4()), "choice": "right"}
    assert client.post(body["vote_url"], payload, content_type="application/json").status_code == 201
    response = client.post(body["vote_url"], {**payload, "choice": "same"}, content_type="application/json")
    assert response.status_code == 409
    assert response.json()["code"] == "client_id_reused" and response.json()["stored"]["choice"] == "right"

    url = reverse("studies:vote", kwargs={"study_id": study.pk})
    page = client.get(url)
    form = {"token": page.context["trial"].token, "client_id": str(page.context["client_id"])}
    client.post(url, {**form, "choice": "left"})
    response = client.post(url, {**form, "choice": "right"}, follow=True)
    assert "already voted on with a different choice; your first vote is kept" in response.content.decode()
