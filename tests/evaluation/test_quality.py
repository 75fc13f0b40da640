"""The quality report read from the database (evaluation/quality.py): questionnaire agreement, repeats, transitivity."""
from annotation.models import Judgement
from annotation.vocabulary import TaskKind
from evaluation.quality import agreement_rows, annotator_screening, project_quality_report
from tests.evaluation.judgement_builders import annotators_make, images_make, judgements_add

DISTORTIONS = {"brightness": "undistorted", "color": "mild", "noise": "undistorted", "artifacts": "undistorted", "blurriness": "mild"}


def test_questionnaire_fields_get_a_nominal_alpha_each(project):
    """Two annotators agree on every field of three questionnaires but `overall` on one: alpha 1 for the rest, less for it."""
    images = images_make(project, 3)
    ann, bob = annotators_make(project, 2)
    overall = {ann.pk: ["mild", "severe", "nearly_undistorted"], bob.pk: ["mild", "severe", "mild"]}
    texture = ["bricks", "faces", "bricks"]
    for user in (ann, bob):
        made = judgements_add(project, [(image, None) for image in images], [user], kind=TaskKind.DESCRIPTION)
        for j, judgement in enumerate(made):
            judgement.answer = {"texture_category": texture[j], "texture_condition": "clear", "distortions": DISTORTIONS, "overall": overall[user.pk][j]}
        Judgement.objects.bulk_update(made, ["answer"])
    rows = {(row["kind"], row["field"]): row for row in agreement_rows(project=project)}
    assert rows[("description", "texture_category")]["alpha"] == 1.0
    assert rows[("description", "texture_condition")]["alpha"] is None  # one value everywhere: undefined
    assert rows[("description", "overall")]["alpha"] < 1.0 and rows[("description", "overall")]["n_units"] == 3
    assert rows[("description", "distortions.color")]["level"] == "nominal"


def test_repeats_and_transitivity_per_annotator_from_the_database(project):
    """A repeat answered the other way counts as disagreement; a judged a>b>c>a cycle is one circular triad."""
    a, b, c = images_make(project, 3)
    (user,) = annotators_make(project, 1)
    judgements_add(project, [(a, b, "a"), (b, c, "a"), (a, c, "b")], [user])
    judgements_add(project, [(a, b, "b"), (b, c, "a")], [user], is_repeat=True)
    (row,) = annotator_screening(project=project)
    assert row["repeats"] == {"n": 2, "agreed": 1, "share": 0.5, "mean_abs_difference": None}
    assert row["transitivity"] == {"triads": 1, "circular": 1, "share": 1.0}
    assert row["judgements"] == 3  # repeats are not counted twice


def test_report_of_a_project_without_data_is_empty_but_complete(project):
    """Every section is there with nothing in it."""
    report = project_quality_report(project=project)
    assert report["annotators"] == [] and report["critic"] == [] and report["exclusions"] == []
    assert report["scores"] == {"run_id": None, "scores": []} and report["progress"] == {"days": [], "series": {}}
    assert all(row["alpha"] is None for row in report["agreement"])
