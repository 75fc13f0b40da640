"""The quality dashboard, its JSON API and the exclude/restore action (evaluation/views_quality.py, api_quality.py)."""
import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import ExclusionEvent, Judgement, Membership, WorkItem
from annotation.vocabulary import TaskKind
from evaluation.services import project_scale
from modeling.critic.models import CriticVersion
from tests.evaluation.judgement_builders import annotators_make, images_make, judgements_add
from tests.factories import MembershipFactory, ProjectFactory

N_IMAGES = 12


@pytest.fixture
def panel(project):
    """Eight regular raters and an erratic one (alternately 5 and 1: BT.500 rejects them); the erratic one also
    answers every pair reversed and always picks the left image; a critic version with metrics; current scores."""
    images = images_make(project, N_IMAGES)
    users = annotators_make(project, 9)
    regulars, erratic = users[:8], users[8]
    for o, user in enumerate(regulars):
        rows = [(image, 2 if j % 8 == o else 4 if (j + 1) % 8 == o else 3) for j, image in enumerate(images)]
        judgements_add(project, rows, [user], kind=TaskKind.RATING)
    judgements_add(project, [(image, 5 if j % 2 == 0 else 1) for j, image in enumerate(images)], [erratic], kind=TaskKind.RATING)
    rng = np.random.default_rng(0)
    for user in users[:6] + [erratic]:
        rows = []
        for _ in range(40):
            i, j = sorted(rng.choice(N_IMAGES, 2, replace=False))
            better_first = rng.random() < 0.9  # image order is quality order: lower index is better
            if user == erratic:
                better_first = False
            rows.append((images[i], images[j], "a" if better_first else "b"))
        rows = list({(a.pk, b.pk): (a, b, c) for a, b, c in rows}.values())
        made = judgements_add(project, rows, [user])
        # Screen sides: honest annotators saw half the pairs swapped; the erratic one always pressed "left" (B, swapped).
        for judgement in made:
            judgement.swap = user == erratic or rng.random() < 0.5
        Judgement.objects.bulk_update(made, ["swap"])
    gold = judgements_add(project, [(image, 3) for image in images[:6]], [erratic], kind=TaskKind.RATING, purpose=WorkItem.Purpose.GOLD)
    Judgement.objects.filter(pk__in=[j.pk for j in gold]).update(gold_correct=False)
    for number, srcc, n in ((1, 0.42, 4), (2, 0.61, 12)):  # v1's metrics rest on too few images to judge
        CriticVersion.objects.create(
            project=project, number=number, base_model_dir="unused", status="ready",
            metrics={"evaluated": True, "n_heldout_images": n, "scaling": {"n": n, "srcc": srcc, "plcc": srcc + 0.05},
                     "pairwise": {"n": n, "accuracy": 0.7}},
        )
    project_scale(project)
    return {"images": images, "regulars": regulars, "erratic": erratic}


def _dashboard(project):
    return reverse("evaluation:project_quality", kwargs={"project_id": project.pk})


def _action(project, user):
    membership = Membership.objects.get(project=project, user=user)
    return reverse("evaluation:project_quality_exclusion", kwargs={"project_id": project.pk, "membership_id": membership.pk})


def _api_action(project, user):
    membership = Membership.objects.get(project=project, user=user)
    return reverse("api:project_quality_exclusion", kwargs={"project_id": project.pk, "membership_id": membership.pk})


def test_dashboard_shows_every_plot_and_flags_the_erratic_annotator(client, researcher, project, panel):
    """Five server-side SVG plots; the erratic annotator's row carries the BT.500, pair-outlier, straight-lining and gold flags."""
    client.force_login(researcher)
    response = client.get(_dashboard(project))
    assert response.status_code == 200
    html = response.content.decode()
    for kind, testid in (("lines", "plot-progress"), ("bars", "plot-gold"), ("bars", "plot-agreement"),
                         ("histogram", "plot-scores"), ("lines", "plot-critic")):
        assert f'data-testid="{testid}"><svg' in html and f'data-plot="{kind}"' in html
    screening = {row["username"]: row for row in response.context["report"]["annotators"]}
    erratic = screening[panel["erratic"].username]
    assert set(erratic["flags"]) == {"BT.500 rejected", "pair outlier", "straight-lining", "gold below 50%"}
    assert (erratic["bt500"]["p"], erratic["bt500"]["q"]) == (6, 6)
    assert all(not screening[user.username]["flags"] for user in panel["regulars"])
    assert "csrfmiddlewaretoken" in html and html.count(">Exclude</button>") == 9
    too_few = html.split('data-testid="critic-too-few">', 1)[1].split("</p>", 1)[0]
    assert too_few.startswith("v1: SRCC vs scaled scores") and "too few to judge" in too_few and html.count('data-testid="critic-too-few"') == 1


def test_api_returns_the_dashboards_numbers(client, researcher, project, panel):
    """The JSON API carries agreement, screening, progress, scores and the critic's metrics per version."""
    client.force_login(researcher)
    data = client.get(reverse("api:project_quality", kwargs={"project_id": project.pk})).json()
    agreement = {(row["kind"], row["field"], row["level"]): row for row in data["agreement"]}
    rating = agreement[("rating", "level", "ordinal")]
    assert rating["n_units"] == N_IMAGES and rating["n_coders"] == 9 and rating["alpha"] < 0.5
    assert agreement[("pair", "choice", "nominal")]["n_units"] > 0
    assert [row["version"] for row in data["critic"]] == [1, 2]
    assert data["critic"][1]["metrics"]["SRCC vs scaled scores"] == 0.61
    assert data["critic"][0]["metrics"]["SRCC vs scaled scores"] is None  # 4 held-out images: too few to judge
    assert "SRCC vs scaled scores" in data["critic"][0]["too_few"] and data["critic"][1]["too_few"] == []
    assert len(data["scores"]["scores"]) == N_IMAGES
    assert sum(values[-1] for values in data["progress"]["series"].values()) == Judgement.objects.filter(project=project).count()
    assert {row["username"] for row in data["annotators"] if row["flags"]} == {panel["erratic"].username}


def test_excluding_on_the_page_raises_agreement_and_restoring_brings_it_back(client, researcher, project, panel):
    """Exclude the erratic annotator with a reason: their judgements are excluded, alpha of pair choices rises (they
    answered every pair reversed), the log shows it; restore undoes it."""
    client.force_login(researcher)
    api = reverse("api:project_quality", kwargs={"project_id": project.pk})

    def pair_alpha():
        rows = client.get(api).json()["agreement"]
        return next(row["alpha"] for row in rows if row["kind"] == "pair" and row["field"] == "choice")

    before = pair_alpha()
    response = client.post(_action(project, panel["erratic"]), {"action": "exclude", "reason": "BT.500 rejected"}, follow=True)
    assert response.status_code == 200 and "is excluded from scores" in response.content.decode()
    assert not Judgement.objects.filter(annotator=panel["erratic"], excluded=False).exists()
    after = pair_alpha()
    assert after > before + 0.1, (before, after)
    assert 'data-testid="excluded-badge"' in response.content.decode()
    client.post(_action(project, panel["erratic"]), {"action": "restore", "reason": "second look"})
    assert pair_alpha() == pytest.approx(before)
    log = client.get(api).json()["exclusions"]
    page = client.get(_dashboard(project)).content.decode()
    shown = ExclusionEvent.objects.latest("id").created_at.astimezone(timezone.get_current_timezone()).strftime("%Y-%m-%d %H:%M")
    assert f"<td>{shown}</td>" in page and "T" not in shown  # the app's date format, not ISO (issue 17, bug 7)
    assert [(e["action"], e["reason"], e["by"]) for e in log] == [
        ("restore", "second look", researcher.username), ("exclude", "BT.500 rejected", researcher.username),
    ]


def test_page_action_refuses_bad_input_with_a_message(client, researcher, project, panel):
    """A blank reason or an unknown action changes nothing and says why; another project's membership is 404."""
    client.force_login(researcher)
    url = _action(project, panel["erratic"])
    blank = client.post(url, {"action": "exclude", "reason": "  "}, follow=True)
    assert "Give a reason" in blank.content.decode()
    unknown = client.post(url, {"action": "delete", "reason": "x"}, follow=True)
    assert "must be" in unknown.content.decode()
    assert not ExclusionEvent.objects.exists()
    other = MembershipFactory(project=ProjectFactory())
    wrong = reverse("evaluation:project_quality_exclusion", kwargs={"project_id": project.pk, "membership_id": other.pk})
    assert client.post(wrong, {"action": "exclude", "reason": "x"}).status_code == 404


def test_api_action_excludes_restores_and_refuses_bad_requests(client, researcher, project, panel):
    """201 with the audit row; 400 for excluding twice, a missing reason or an unknown action; 404 for another project's member."""
    client.force_login(researcher)
    url = _api_action(project, panel["erratic"])
    created = client.post(url, {"action": "exclude", "reason": "pair outlier"}, content_type="application/json")
    assert created.status_code == 201 and created.json()["action"] == "exclude" and created.json()["judgements_changed"] > 0
    again = client.post(url, {"action": "exclude", "reason": "again"}, content_type="application/json")
    assert again.status_code == 400 and "excluded already" in again.json()["detail"]
    assert client.post(url, {"action": "restore"}, content_type="application/json").status_code == 400
    assert client.post(url, {"action": "purge", "reason": "x"}, content_type="application/json").status_code == 400
    restored = client.post(url, {"action": "restore", "reason": "ok"}, content_type="application/json")
    assert restored.status_code == 201 and not Judgement.objects.filter(annotator=panel["erratic"], excluded=True).exists()
    other = MembershipFactory(project=ProjectFactory())
    wrong = reverse("api:project_quality_exclusion", kwargs={"project_id": project.pk, "membership_id": other.pk})
    assert client.post(wrong, {"action": "exclude", "reason": "x"}, content_type="application/json").status_code == 404


def test_annotators_get_403_everywhere_and_the_action_needs_csrf(client, researcher, project, panel):
    """An annotator of the project is refused the dashboard, the API and the action; a POST without a CSRF token is 403."""
    erratic = panel["erratic"]
    client.force_login(erratic)
    assert client.get(_dashboard(project)).status_code == 403
    assert client.get(reverse("api:project_quality", kwargs={"project_id": project.pk})).status_code == 403
    assert client.post(_action(project, erratic), {"action": "restore", "reason": "let me back"}).status_code == 403
    assert client.post(_api_action(project, erratic), {"action": "restore", "reason": "x"}, content_type="application/json").status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(researcher)
    assert strict.post(_action(project, erratic), {"action": "exclude", "reason": "no token"}).status_code == 403
    assert not ExclusionEvent.objects.exists()


def test_dashboard_of_an_empty_project_renders(client, researcher, project):
    """No judgements, no scores, no critic: every plot says there is nothing yet, and the tables are empty."""
    client.force_login(researcher)
    response = client.get(_dashboard(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-n="0"') == 5 and "No annotators yet" in html and "Nobody has been excluded" in html


def test_exclude_and_restore_messages_count_what_the_table_counts_and_say_what_restore_does(client, researcher, project):
    """The message counts the screening table's judgements (work and gold, no repeats, no training answers), and
    restore says the critic trains on them again, not that it leaves them out (issue 17, bugs 1 and 2)."""
    images = images_make(project, 5)
    (user,) = annotators_make(project, 1)
    pairs = [(a, b, "a") for a, b in zip(images[:-1], images[1:])]
    judgements_add(project, pairs, [user])  # 4 counted
    judgements_add(project, pairs[:2], [user], is_repeat=True)  # repeats: not in the table's count
    judgements_add(project, [(image, 3) for image in images[:3]], [user], kind=TaskKind.RATING, purpose=WorkItem.Purpose.TRAINING)
    client.force_login(researcher)
    page = client.get(_dashboard(project)).content.decode()
    assert '<td class="num">4</td>' in page
    excluded = client.post(_action(project, user), {"action": "exclude", "reason": "random"}, follow=True).content.decode()
    assert "(4 judgements)" in excluded and "leaves these judgements out" in excluded
    restored = client.post(_action(project, user), {"action": "restore", "reason": "fine"}, follow=True).content.decode()
    assert "(4 judgements)" in restored and "trains on these judgements again" in restored
    assert "leaves" not in restored.split("is restored to")[1].split("</")[0]


def test_bt500_column_says_not_tested_when_no_image_has_three_ratings(client, researcher, project):
    """With two ratings per image (the demo's case) no image enters BT.500: the column says "not tested", never
    "0/0 of 0"; an annotator who rated nothing gets a dash (issue 17, bug 4)."""
    images = images_make(project, 6)
    first, second, pairs_only = annotators_make(project, 3)
    judgements_add(project, [(image, 1 + j % 5) for j, image in enumerate(images)], [first], kind=TaskKind.RATING)
    judgements_add(project, [(image, 5 - j % 5) for j, image in enumerate(images)], [second], kind=TaskKind.RATING)
    judgements_add(project, [(images[0], images[1], "a")], [pairs_only])
    client.force_login(researcher)
    page = client.get(_dashboard(project)).content.decode()
    assert "0/0 of 0" not in page
    assert page.count('data-testid="bt500-untested"') == 2
    data = client.get(reverse("api:project_quality", kwargs={"project_id": project.pk})).json()
    assert [(row["bt500"], row["rated"]) for row in data["annotators"]] == [(None, True), (None, True), (None, False)]
