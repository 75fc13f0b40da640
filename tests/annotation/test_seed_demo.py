"""The demo seed: reproducible offline images, idempotent runs, accounts and memberships."""
import io
import shutil
import socket
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from accounts.models import Role
from annotation.models import Image, ImportBatch, Membership, Project
from annotation.services.demo import (
    DEMO_DISTORTIONS,
    DEMO_PASSWORD,
    DEMO_SOURCE_DATASET,
    DEMO_SOURCES,
    LONG_SIDE,
    SMALL_DISTORTIONS,
    demo_distorted_pixels,
    demo_plan,
    demo_png_bytes,
    demo_seed,
    demo_source_pixels,
)
from tests.factories import AnnotatorFactory

SMALL_COUNT = 2 * (1 + len(SMALL_DISTORTIONS) * 5)


def _fingerprint(project: Project) -> list[tuple]:
    """What a caller sees of the seeded images: name, bytes' hash, ground truth, reference's name."""
    return sorted(
        (image.original_name, image.content_hash, tuple(sorted(image.hidden_ground_truth.items())), image.reference.original_name if image.reference else None)
        for image in project.images.select_related("reference")
    )


def _media_files(root) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in Path(root).rglob("*") if path.is_file())


@pytest.fixture
def seeded(db):
    return demo_seed(small=True)


@pytest.mark.django_db
def test_seed_gives_the_same_images_in_a_fresh_database_and_media_root(settings, tmp_path):
    """Seeding from scratch twice gives the same names, bytes, ground truth and references."""
    np.random.seed(1)  # whatever the caller's global random state, the demo is the same
    first = _fingerprint(demo_seed(small=True).project)
    Project.objects.filter(slug="demo").delete()
    get_user_model().objects.filter(username__in=["researcher", "annotator1", "annotator2"]).delete()
    shutil.rmtree(settings.MEDIA_ROOT)
    settings.MEDIA_ROOT = tmp_path / "second-media"
    np.random.seed(2)

    second_project = demo_seed(small=True).project

    assert len(first) == SMALL_COUNT
    assert _fingerprint(second_project) == first
    assert all(Path(image.file.path).is_file() and Path(image.thumbnail.path).is_file() for image in second_project.images.all())


def test_distorted_pixels_repeat_exactly_and_leave_global_random_state_alone():
    """The same (source, distortion, severity) gives identical pixels, and np.random's state is untouched."""
    np.random.seed(999)
    first = demo_distorted_pixels(source="chelsea", distortion="gaussian_noise", severity=3)
    np.random.seed(1234)
    before = np.random.get_state()

    second = demo_distorted_pixels(source="chelsea", distortion="gaussian_noise", severity=3)
    after = np.random.get_state()

    assert np.array_equal(first, second)
    assert demo_png_bytes(pixels=first) == demo_png_bytes(pixels=second)
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    assert np.random.random() == np.random.RandomState(1234).random()
    assert not np.array_equal(first, demo_distorted_pixels(source="chelsea", distortion="gaussian_noise", severity=4))


def test_every_demo_distortion_runs_at_every_severity():
    """Each distortion the full demo uses works with the installed numpy and scikit-image, at severities 1-5."""
    pixels = demo_source_pixels(source="astronaut")[:96, :128]
    for distortion in DEMO_DISTORTIONS:
        outputs = [demo_distorted_pixels(source="astronaut", distortion=distortion, severity=s, pixels=pixels) for s in range(1, 6)]
        assert all(out.shape == pixels.shape and out.dtype == np.uint8 for out in outputs), distortion
        assert not np.array_equal(outputs[4], pixels), distortion


def test_source_photographs_load_without_the_network(monkeypatch):
    """Every source photograph comes from scikit-image's bundled files, with no connection attempted."""

    def refuse(*args, **kwargs):
        raise AssertionError("the demo seed tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    for source in DEMO_SOURCES:
        pixels = demo_source_pixels(source=source)
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
        assert max(pixels.shape[:2]) == LONG_SIDE


def test_unknown_distortion_or_severity_is_refused():
    """A distortion outside the supported list, or a severity outside 1-5, raises ValueError."""
    with pytest.raises(ValueError, match="glass_blur"):
        demo_distorted_pixels(source="chelsea", distortion="glass_blur", severity=1)
    with pytest.raises(ValueError, match="severity"):
        demo_distorted_pixels(source="chelsea", distortion="contrast", severity=6)


def test_second_run_changes_nothing(seeded, settings):
    """Running the seed again adds no images, batches, accounts, memberships or files."""
    counts = (Image.objects.count(), ImportBatch.objects.count(), get_user_model().objects.count(), Membership.objects.count())
    files = _media_files(settings.MEDIA_ROOT)
    fingerprint = _fingerprint(seeded.project)

    again = demo_seed(small=True)

    assert (Image.objects.count(), ImportBatch.objects.count(), get_user_model().objects.count(), Membership.objects.count()) == counts
    assert _media_files(settings.MEDIA_ROOT) == files
    assert _fingerprint(again.project) == fingerprint
    assert (again.imported, again.already_present, again.batch, again.project_created, again.memberships_created) == (0, SMALL_COUNT, None, False, 0)
    assert not any(account.created for account in again.accounts)


def test_full_seed_after_small_seed_adds_only_the_rest(seeded):
    """The small demo is a subset of the full one: the full plan keeps its names and adds new ones."""
    small_names = {spec.name for spec in demo_plan(small=True)}
    full_names = {spec.name for spec in demo_plan(small=False)}

    assert small_names < full_names
    assert len(full_names) == len(DEMO_SOURCES) * (1 + len(DEMO_DISTORTIONS) * 5)


def test_each_distortion_has_severities_one_to_five_per_source(seeded):
    """Every source has one pristine image (severity 0) and each distortion at severities 1 to 5."""
    severities = defaultdict(set)
    for image in seeded.project.images.all():
        source = image.original_name.rsplit("_", 1)[0]
        severities[(source, image.hidden_ground_truth["distortion"])].add(image.hidden_ground_truth["severity"])

    for source in DEMO_SOURCES[:2]:
        assert severities[(source, "none")] == {0}
        for distortion in SMALL_DISTORTIONS:
            assert severities[(source, distortion)] == {1, 2, 3, 4, 5}


def test_some_sources_are_full_reference_and_others_no_reference(seeded):
    """The first source's distorted images point at its pristine image; the second source's have none."""
    images = list(seeded.project.images.select_related("reference"))
    distorted = [image for image in images if image.hidden_ground_truth["distortion"] != "none"]
    with_reference = [image for image in distorted if image.reference is not None]
    without_reference = [image for image in distorted if image.reference is None]

    assert len(with_reference) == len(without_reference) == len(SMALL_DISTORTIONS) * 5
    assert {image.reference.original_name for image in with_reference} == {demo_plan(small=True)[0].name}
    assert all(image.reference.hidden_ground_truth == {"distortion": "none", "severity": 0} for image in with_reference)
    assert all(image.original_name.startswith("astronaut_") for image in with_reference)
    assert all(image.original_name.startswith("chelsea_") for image in without_reference)


def test_images_carry_demo_metadata_and_names_hide_the_ground_truth(seeded):
    """Every image is a photographic skimage-demo PNG whose file name does not reveal its distortion."""
    for image in seeded.project.images.all():
        assert (image.source_dataset, image.authenticity, image.format) == (DEMO_SOURCE_DATASET, "photographic", "PNG")
        assert not any(distortion in image.original_name for distortion in DEMO_DISTORTIONS)
        assert max(image.width, image.height) == LONG_SIDE


def test_one_demo_import_batch_reports_every_image(seeded):
    """The images are recorded in one finished DEMO import batch with its counters and report filled."""
    batch = seeded.batch

    batch.refresh_from_db()
    assert (batch.source, batch.status, batch.project_id) == (ImportBatch.Source.DEMO, ImportBatch.Status.DONE, seeded.project.pk)
    assert (batch.imported_count, batch.duplicate_count, batch.error_count) == (SMALL_COUNT, 0, 0)
    assert [entry["status"] for entry in batch.report] == ["imported"] * SMALL_COUNT
    assert batch.finished_at is not None
    assert set(seeded.project.images.values_list("import_batch", flat=True)) == {batch.pk}


def test_demo_accounts_and_memberships_have_their_roles(seeded, client):
    """researcher, annotator1 and annotator2 exist with the demo password and matching project roles."""
    expected = {"researcher": Role.RESEARCHER, "annotator1": Role.ANNOTATOR, "annotator2": Role.ANNOTATOR}
    for username, role in expected.items():
        user = get_user_model().objects.get(username=username)
        assert user.role == role
        assert user.check_password(DEMO_PASSWORD)
        assert Membership.objects.get(project=seeded.project, user=user).role == role
    assert seeded.project.slug == "demo"
    assert seeded.project.created_by.username == "researcher"
    assert client.post(reverse("login"), {"username": "annotator1", "password": DEMO_PASSWORD}).status_code == 302


@pytest.mark.django_db
def test_existing_account_is_kept_with_its_password():
    """An account that already exists is reported as existing, and its password is not reset."""
    AnnotatorFactory(username="annotator1", password="their-own-password")

    summary = demo_seed(small=True)

    user = get_user_model().objects.get(username="annotator1")
    assert user.check_password("their-own-password")
    assert {account.username: account.created for account in summary.accounts} == {"researcher": True, "annotator1": False, "annotator2": True}


@pytest.mark.django_db
def test_default_password_is_refused_in_production(settings):
    """In production the published default password is refused and nothing is created."""
    settings.PRODUCTION = True

    with pytest.raises(ValueError, match="production"):
        demo_seed(small=True)
    assert not Project.objects.filter(slug="demo").exists()


@pytest.mark.django_db
def test_command_seeds_and_prints_the_logins():
    """`manage.py seed_demo --small` seeds the demo and prints each login; a re-run says they existed."""
    out = io.StringIO()
    call_command("seed_demo", "--small", stdout=out)
    text = out.getvalue()
    assert f"{SMALL_COUNT} imported" in text
    for username in ("researcher", "annotator1", "annotator2"):
        assert username in text
    assert DEMO_PASSWORD in text

    out = io.StringIO()
    call_command("seed_demo", "--small", stdout=out)
    assert f"0 imported, {SMALL_COUNT} already present" in out.getvalue()
    assert "already existed" in out.getvalue()


@pytest.mark.django_db
def test_command_turns_a_refusal_into_a_command_error(settings):
    """A refused seed (empty password) ends the command with a CommandError, not a traceback."""
    with pytest.raises(CommandError, match="password"):
        call_command("seed_demo", "--small", "--password", "", stdout=io.StringIO())


def test_training_round_has_examples_of_every_level(seeded):
    """The demo's training items cover levels 1 to 5, so the training page shows an example of each."""
    from annotation.models import WorkItem
    from annotation.selectors_work import training_level_examples

    examples = training_level_examples(project=seeded.project)
    assert [example["level"] for example in examples if example["items"]] == [1, 2, 3, 4, 5]
    middle = WorkItem.objects.filter(project=seeded.project, purpose=WorkItem.Purpose.TRAINING, gold_answer__level__in=[2, 3, 4])
    for item in middle:
        assert item.feedback and f"({item.gold_answer['level']})" in item.feedback
        assert item.image.hidden_ground_truth["severity"] in (1, 3, 4)
