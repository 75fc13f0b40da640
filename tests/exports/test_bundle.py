"""The zip bundle: every format and image inside, and a manifest whose checksums match its members."""
import hashlib
import json
import zipfile

import pytest

from exports.filters import ExportFilters
from exports.formats import FORMATS
from exports.writing import export_write, file_sha256
from tests.exports.data import judge, pair_item, rating_item
from tests.factories import AnnotatorFactory, MembershipFactory
from tests.work_data import project_images


@pytest.mark.django_db
def test_zip_manifest_lists_each_member_with_a_matching_checksum(project, tmp_path):
    """Every member's sha256 and size in manifest.json match the bytes in the zip; images are the stored files."""
    annotator = MembershipFactory(project=project, user=AnnotatorFactory()).user
    pool = project_images(project, 3)
    judge(pair_item(project, pool[0], pool[1]), annotator, choice="a")
    judge(rating_item(project, pool[2]), annotator, level=4)
    path = tmp_path / "bundle.zip"
    result = export_write(
        project=project, formats=["pairs", "mos", "pair_matrix", "scores"], filters=ExportFilters(include_excluded=True),
        include_images=True, path=path,
    )
    assert result.sha256 == file_sha256(path) and result.size_bytes == path.stat().st_size
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = set(archive.namelist()) - {"manifest.json"}
        assert names == set(manifest["members"])
        for name, entry in manifest["members"].items():
            data = archive.read(name)
            assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size"], name
        for image in pool:
            with image.file.open("rb") as handle:
                assert archive.read(image.file.name) == handle.read()
    assert [entry["name"] for entry in manifest["formats"]] == ["pairs", "mos", "pair_matrix", "scores"]
    assert {entry["file"] for entry in manifest["formats"]} == {FORMATS[n].file_name for n in ("pairs", "mos", "pair_matrix", "scores")}
    assert manifest["counts"] == {"rows": {"pairs": 1, "mos": 1, "pair_matrix": 2, "scores": 0}, "images": 3}
    assert manifest["filters"]["include_excluded"] is True
    assert manifest["project"]["slug"] == project.slug and manifest["created_at"] and manifest["loupe_version"]
    assert "scores" in manifest["notes"]


@pytest.mark.django_db
def test_one_format_without_images_is_a_plain_file(project, tmp_path):
    """A single format is written as that file (not a zip), with its checksum."""
    path = tmp_path / "pairs.csv"
    result = export_write(project=project, formats=["pairs"], filters=ExportFilters(), include_images=False, path=path)
    assert path.read_text().startswith("judgement_id,") and result.sha256 == file_sha256(path)
    assert not zipfile.is_zipfile(path)


@pytest.mark.django_db
def test_progress_is_reported_every_chunk_while_rows_stream(project, researcher, tmp_path):
    """With chunks of 2 rows, progress is written to the job row as the rows stream (read back from the database)."""
    from exports.models import ExportJob

    annotators = [MembershipFactory(project=project, user=AnnotatorFactory()).user for _ in range(5)]
    a, b = project_images(project, 2)
    item = pair_item(project, a, b)
    for annotator in annotators:
        judge(item, annotator, choice="a")
    job = ExportJob.objects.create(project=project, requested_by=researcher, formats=["pairs"])
    seen = []

    def progress(rows):
        ExportJob.objects.filter(pk=job.pk).update(rows_written=rows)
        seen.append(ExportJob.objects.get(pk=job.pk).rows_written)

    result = export_write(project=project, formats=["pairs"], filters=ExportFilters(), include_images=False,
                          path=tmp_path / "p.csv", on_progress=progress, chunk_size=2)
    assert seen == [2, 4] and result.row_counts == {"pairs": 5}
