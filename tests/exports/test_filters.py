"""Export filters: dates, annotators, gold-passed only, quality control's exclusions, and clear errors for bad input."""
import csv
import datetime as dt
import io

import pytest

from annotation.models import WorkItem
from exports.filters import ExportFilters, ExportInputError, export_filters_parse
from exports.writing import export_write
from tests.exports.data import images, judge, pair_item
from tests.factories import AnnotatorFactory, MembershipFactory, ProjectFactory


@pytest.fixture
def annotators(project):
    return [MembershipFactory(project=project, user=AnnotatorFactory()).user for _ in range(3)]


@pytest.fixture
def pairs(project, annotators):
    """Six pair judgements on three days by three annotators; the third annotator's is excluded."""
    a, b = images(project, 2)
    item = pair_item(project, a, b)
    made = {
        "first_day": judge(item, annotators[0], choice="a", day=dt.date(2026, 3, 1)),
        "second_day": judge(item, annotators[1], choice="b", day=dt.date(2026, 3, 2)),
        "excluded": judge(item, annotators[2], choice="a", day=dt.date(2026, 3, 2), excluded=True),
        "third_day": judge(item, annotators[0], choice="tie", day=dt.date(2026, 3, 3), is_repeat=True),
    }
    return made


def _ids(project, tmp_path, **filters) -> list[int]:
    path = tmp_path / "pairs.csv"
    export_write(project=project, formats=["pairs"], filters=ExportFilters(**filters), include_images=False, path=path)
    return [int(row["judgement_id"]) for row in csv.DictReader(io.StringIO(path.read_text()))]


@pytest.mark.django_db
def test_excluded_judgements_are_left_out_unless_asked_for(project, pairs, tmp_path):
    """Quality control's exclusions are off by default and come back with include_excluded."""
    assert pairs["excluded"].pk not in _ids(project, tmp_path)
    assert pairs["excluded"].pk in _ids(project, tmp_path, include_excluded=True)


@pytest.mark.django_db
def test_dates_are_inclusive_days(project, pairs, tmp_path):
    """date_from and date_to keep judgements submitted on those days and between them."""
    assert _ids(project, tmp_path, date_from=dt.date(2026, 3, 2), date_to=dt.date(2026, 3, 2)) == [pairs["second_day"].pk]
    assert _ids(project, tmp_path, date_from=dt.date(2026, 3, 2)) == [pairs["second_day"].pk, pairs["third_day"].pk]
    assert _ids(project, tmp_path, date_to=dt.date(2026, 3, 1)) == [pairs["first_day"].pk]


@pytest.mark.django_db
def test_annotator_filter_takes_usernames_and_ids(project, annotators, pairs, tmp_path):
    """Annotators given by username or id select only their judgements."""
    filters = export_filters_parse(project=project, data={"annotators": f"{annotators[1].username}, {annotators[0].pk}"})
    assert filters.annotator_ids == tuple(sorted((annotators[0].pk, annotators[1].pk)))
    assert _ids(project, tmp_path, annotator_ids=(annotators[1].pk,)) == [pairs["second_day"].pk]


@pytest.mark.django_db
def test_gold_passed_only_keeps_annotators_at_or_above_the_threshold(project, annotators, pairs, tmp_path):
    """Gold accuracy 2/3 passes 0.6 and fails 0.7; an annotator who answered no gold item is left out."""
    gold = [pair_item(project, *images(project, 2)) for _ in range(3)]
    for item in gold:
        WorkItem.objects.filter(pk=item.pk).update(purpose=WorkItem.Purpose.GOLD)
        item.refresh_from_db()
    for item, right in zip(gold, (True, True, False)):
        judge(item, annotators[1], choice="a", gold_correct=right)
    judge(gold[0], annotators[0], choice="b", gold_correct=False)
    kept = _ids(project, tmp_path, gold_min_accuracy=0.6)
    assert pairs["second_day"].pk in kept and pairs["first_day"].pk not in kept and len(kept) == 4  # 1 work + 3 gold
    assert _ids(project, tmp_path, gold_min_accuracy=0.7) == []


@pytest.mark.django_db
@pytest.mark.parametrize("data, message", [
    ({"date_from": "2026-13-01"}, "date_from must be a date as YYYY-MM-DD"),
    ({"date_to": "yesterday"}, "date_to must be a date as YYYY-MM-DD"),
    ({"date_from": "2026-03-05", "date_to": "2026-03-01"}, "date_from must not be after date_to"),
    ({"gold_min_accuracy": "high"}, "gold_min_accuracy must be a number"),
    ({"gold_min_accuracy": 1.5}, "gold_min_accuracy must be between 0 and 1"),
    ({"annotators": ["nobody-here"]}, "Not annotators of this project: nobody-here"),
    ({"include_excluded": "perhaps"}, "include_excluded must be true or false"),
    ({"colour": "red"}, "Unknown filter(s): colour"),
])
def test_bad_filters_give_clear_errors(project, data, message):
    """Each malformed filter is refused with a message that names it."""
    with pytest.raises(ExportInputError) as error:
        export_filters_parse(project=project, data=data)
    assert message in str(error.value)


@pytest.mark.django_db
def test_an_annotator_of_another_project_is_not_accepted(project):
    """Annotators are looked up among this project's members only."""
    outsider = MembershipFactory(project=ProjectFactory(), user=AnnotatorFactory()).user
    with pytest.raises(ExportInputError, match=outsider.username):
        export_filters_parse(project=project, data={"annotators": [outsider.username]})


@pytest.mark.django_db
def test_excluding_an_annotator_takes_their_judgements_out_of_exports_and_restoring_brings_them_back(project, researcher, annotators, pairs, tmp_path):
    """Quality control's one action (annotation.services.exclusion) changes the export, and undoing it restores it."""
    from annotation.services.exclusion import annotator_exclude, annotator_restore

    before = _ids(project, tmp_path)
    assert pairs["second_day"].pk in before
    annotator_exclude(project=project, annotator=annotators[1], by=researcher, reason="failed screening")
    assert _ids(project, tmp_path) == [i for i in before if i != pairs["second_day"].pk]
    annotator_restore(project=project, annotator=annotators[1], by=researcher, reason="screening was wrong")
    assert _ids(project, tmp_path) == before
