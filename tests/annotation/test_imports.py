"""Importing images: every kind of bad file is reported per file, the good ones still land, nothing half-written."""
import io
import struct
import zlib
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from annotation.models import Image, ImportBatch
from annotation.services.imports import (
    ImportItem,
    ImportRequestError,
    image_import,
    import_batch_create,
    import_batch_process_staged,
    import_batch_run,
    import_options_clean,
)
from tests.factories import image_bytes, zip_bytes

pytestmark = pytest.mark.django_db


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`×`height` pixels: the shape of a decompression bomb, in a few bytes."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def items(files: dict[str, bytes]) -> list[ImportItem]:
    return [ImportItem(name=name, size=len(data), read=lambda data=data: data) for name, data in files.items()]


def new_batch(project, **options) -> ImportBatch:
    return ImportBatch.objects.create(project=project, source=ImportBatch.Source.API, options=options)


def stored_files() -> list[str]:
    root = Path(default_storage.location)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def by_name(batch: ImportBatch) -> dict[str, dict]:
    return {entry["name"]: entry for entry in batch.report}


# ------------------------------------------------------------------------------------------ single files


def test_valid_image_is_stored_with_metadata_and_thumbnail(project):
    """A valid PNG becomes an image with its hash, size, format, file and thumbnail."""
    data = image_bytes(size=(640, 480))
    result = image_import(project=project, name="photos/cat.png", data=data)
    assert result.status == "imported", result.message
    image = result.image
    assert (image.width, image.height, image.format, image.file_size) == (640, 480, "PNG", len(data))
    assert image.original_name == "photos/cat.png"
    assert default_storage.open(image.file.name).read() == data
    with default_storage.open(image.thumbnail.name) as thumb:
        from PIL import Image as PILImage

        assert max(PILImage.open(thumb).size) == 256


@pytest.mark.parametrize(
    "name, data, expected",
    [
        ("notes.png", b"this is not an image at all", "not an image"),
        ("empty.png", b"", "empty file"),
        ("cut.png", image_bytes(size=(300, 300), seed=3)[:-200], "truncated or corrupt"),
        ("cut.jpg", image_bytes(size=(300, 300), fmt="JPEG", seed=4)[:400], "truncated or corrupt"),
        ("bomb.png", png_header_only(100_000, 100_000), "decompression bomb"),
        ("anim.gif", image_bytes(fmt="GIF"), "unsupported image format GIF"),
        ("../escape.png", image_bytes(seed=5), "unsafe file name"),
        ("/etc/passwd.png", image_bytes(seed=6), "unsafe file name"),
        ("C:\\Windows\\x.png", image_bytes(seed=7), "unsafe file name"),
        ("nul\x00.png", image_bytes(seed=8), "unsafe file name"),
        ("x" * 300 + ".png", image_bytes(seed=9), "unsafe file name"),
    ],
)
def test_bad_file_gets_a_clear_error_and_nothing_is_stored(project, name, data, expected):
    """Each kind of bad file is refused with a message naming the problem, and leaves no file or row."""
    result = image_import(project=project, name=name, data=data)
    assert result.status == "error"
    assert expected in result.message
    assert Image.objects.count() == 0
    assert stored_files() == []


def test_file_over_the_size_limit_is_refused(project, settings):
    """A file larger than LOUPE_MAX_IMAGE_BYTES is refused with both sizes in the message."""
    settings.LOUPE_MAX_IMAGE_BYTES = 1024
    result = image_import(project=project, name="big.png", data=image_bytes(size=(200, 200), fmt="BMP"))
    assert result.status == "error"
    assert "file too large" in result.message and "limit" in result.message


def test_pixel_limit_is_a_setting(project, settings):
    """An image over LOUPE_MAX_IMAGE_PIXELS is a decompression bomb, whatever its byte size."""
    settings.LOUPE_MAX_IMAGE_PIXELS = 1000
    result = image_import(project=project, name="a.png", data=image_bytes(size=(64, 48)))
    assert result.status == "error" and "decompression bomb" in result.message


def test_duplicate_content_is_reported_not_stored_twice(project):
    """The same bytes under another name are a duplicate of the first image, stored once."""
    data = image_bytes(seed=11)
    first = image_import(project=project, name="a.png", data=data)
    second = image_import(project=project, name="b.png", data=data)
    assert second.status == "duplicate"
    assert second.image == first.image
    assert f"#{first.image.pk}" in second.message and "a.png" in second.message
    assert Image.objects.count() == 1
    assert len([f for f in stored_files() if f.startswith("images/")]) == 1


def test_same_content_in_another_project_is_not_a_duplicate(project):
    """Duplicates are per project: another project stores its own copy."""
    from tests.factories import ProjectFactory

    data = image_bytes(seed=12)
    image_import(project=project, name="a.png", data=data)
    assert image_import(project=ProjectFactory(), name="a.png", data=data).status == "imported"


def test_failed_database_write_leaves_no_file_behind(project, monkeypatch):
    """If the row cannot be written, the image and thumbnail files are removed again."""

    def broken_create(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Image.objects, "create", broken_create)
    with pytest.raises(RuntimeError):
        image_import(project=project, name="a.png", data=image_bytes(seed=13))
    assert stored_files() == []


# ------------------------------------------------------------------------------------------ zips and batches


def test_zip_with_good_and_bad_files_imports_the_good_and_reports_the_bad(project):
    """A zip's valid images are imported; each bad member has its own error; macOS metadata is ignored."""
    good = image_bytes(seed=20)
    archive = zip_bytes(
        {
            "set/good.png": good,
            "set/also-good.jpg": image_bytes(seed=21, fmt="JPEG"),
            "set/readme.txt": b"hello",
            "set/cut.png": image_bytes(size=(300, 300), seed=22)[:-100],
            "set/copy-of-good.png": good,
            "../outside.png": image_bytes(seed=23),
            "inner.zip": zip_bytes({"x.png": image_bytes(seed=24)}),
            "__MACOSX/set/._good.png": b"resource fork",
        }
    )
    batch = import_batch_run(batch=new_batch(project), items=items({"upload.zip": archive}))
    report = by_name(batch)
    assert batch.status == ImportBatch.Status.DONE
    assert report["set/good.png"]["status"] == "imported"
    assert report["set/also-good.jpg"]["status"] == "imported"
    assert "not an image" in report["set/readme.txt"]["message"]
    assert "truncated" in report["set/cut.png"]["message"]
    assert report["set/copy-of-good.png"]["status"] == "duplicate"
    assert "unsafe file name" in report["../outside.png"]["message"]
    assert "zip inside a zip" in report["upload.zip/inner.zip"]["message"]
    assert not any("__MACOSX" in name for name in report)
    assert (batch.imported_count, batch.duplicate_count, batch.error_count) == (2, 1, 4)
    assert Image.objects.filter(project=project).count() == 2


def test_corrupt_zip_is_one_error_and_other_files_still_import(project):
    """An unreadable zip is reported as such; the plain files beside it are imported."""
    batch = import_batch_run(
        batch=new_batch(project), items=items({"broken.zip": b"PK\x03\x04 not really", "fine.png": image_bytes(seed=30)})
    )
    report = by_name(batch)
    assert "not a readable zip" in report["broken.zip"]["message"]
    assert report["fine.png"]["status"] == "imported"


def test_zip_member_that_lies_about_its_size_is_refused(project, settings):
    """A member bigger than the limit is refused even when read, not only by its declared size."""
    settings.LOUPE_MAX_IMAGE_BYTES = 2000
    archive = zip_bytes({"big.bmp": image_bytes(size=(100, 100), fmt="BMP")})
    batch = import_batch_run(batch=new_batch(project), items=items({"a.zip": archive}))
    assert "file too large" in by_name(batch)["big.bmp"]["message"]


def test_rerun_of_an_interrupted_batch_does_not_duplicate(project):
    """Running a batch again (a worker died mid-way) reports its own images as imported, storing nothing twice."""
    batch = new_batch(project)
    files = items({"a.png": image_bytes(seed=40), "b.png": image_bytes(seed=41)})
    import_batch_run(batch=batch, items=files)
    batch.status = ImportBatch.Status.RUNNING
    again = import_batch_run(batch=batch, items=files)
    assert again.imported_count == 2 and again.duplicate_count == 0
    assert Image.objects.count() == 2


# ------------------------------------------------------------------------------------------ manifests

MANIFEST = """filename,mos,mos_min,mos_max,mos_std,source,reference,authenticity,distortion_note
ref.png,4.5,1,5,0.3,LIVE,,photographic,pristine
dist.png,2,1,5,0.5,LIVE,ref.png,photographic,blurred
gen.png,80,0,100,,AIGC,,ai_generated,
"""


def test_manifest_sets_mos_reference_source_authenticity_and_attributes(project):
    """Manifest rows label their images; MOS is normalised to 0-100; references are linked."""
    files = items({"dist.png": image_bytes(seed=50), "ref.png": image_bytes(seed=51), "gen.png": image_bytes(seed=52)})
    batch = import_batch_run(batch=new_batch(project), items=files, manifest=MANIFEST.encode())
    assert batch.error_count == 0, batch.report
    dist = Image.objects.get(original_name="dist.png")
    ref = Image.objects.get(original_name="ref.png")
    gen = Image.objects.get(original_name="gen.png")
    assert dist.reference == ref and ref.reference is None
    assert dist.mos_raw == 2 and dist.mos_normalised == pytest.approx(25.0) and dist.mos_std == 0.5
    assert ref.mos_normalised == pytest.approx(87.5)
    assert (dist.mos_scale_min, dist.mos_scale_max) == (1, 5)
    assert dist.source_dataset == "LIVE" and gen.source_dataset == "AIGC"
    assert gen.authenticity == "ai_generated" and gen.mos_normalised == pytest.approx(80.0)
    assert dist.attributes == {"distortion_note": "blurred"}


def test_manifest_bad_rows_get_row_level_errors_and_good_rows_import(project):
    """Each bad row is reported with its line and problem; the valid rows are imported."""
    manifest = """filename,mos,mos_min,mos_max,mos_std,reference,authenticity
ok.png,3,1,5,,,
nan.png,abc,1,5,,,
high.png,7,1,5,,,
noscale.png,3,,,,,
flat.png,3,5,5,,,
neg.png,3,1,5,-1,,
kind.png,3,1,5,,,painting
orphan.png,3,1,5,,missing.png,
absent.png,3,1,5,,,
ok.png,4,1,5,,,
"""
    files = {name: image_bytes(seed=60 + i) for i, name in enumerate(
        ["ok.png", "nan.png", "high.png", "noscale.png", "flat.png", "neg.png", "kind.png", "orphan.png"]
    )}
    batch = import_batch_run(batch=new_batch(project), items=items(files), manifest=manifest.encode())
    messages = [entry["message"] for entry in batch.report if entry["status"] == "error"]

    def has(fragment):
        return any(fragment in m for m in messages)

    assert has("line 3: mos 'abc' is not a number")
    assert has("line 4: mos 7.0 is outside its scale [1.0, 5.0]")
    assert has("line 5: mos is given without its scale")
    assert has("line 6: the MOS scale [5.0, 5.0] is empty")
    assert has("line 7: mos_std -1.0 is negative")
    assert has("line 8: authenticity 'painting'")
    assert has("line 9: reference 'missing.png' is not among the files nor in the project")
    assert has("line 10: file 'absent.png' is not among the files")
    assert has("file 'ok.png' is already listed on line 2")
    assert list(Image.objects.values_list("original_name", flat=True)) == ["ok.png"]
    assert batch.error_count == 9


def test_batch_mos_scale_applies_to_rows_without_one(project):
    """A batch-wide MOS scale (command option or form field) covers rows that give none."""
    manifest = "filename,mos\na.png,60\n"
    batch = import_batch_run(
        batch=new_batch(project, mos_scale=[0, 80]), items=items({"a.png": image_bytes(seed=70)}), manifest=manifest.encode()
    )
    assert batch.error_count == 0
    assert Image.objects.get().mos_normalised == pytest.approx(75.0)


def test_dmos_batch_option_flips_the_order(project):
    """With "lower is better" a DMOS of 10 on [0, 100] becomes 90 and ranks above a DMOS of 70; raw kept, batch and images say so."""
    manifest = "filename,mos\ngood.png,10\nbad.png,70\n"
    batch = import_batch_run(
        batch=new_batch(project, mos_scale=[0, 100], mos_lower_is_better=True),
        items=items({"good.png": image_bytes(seed=72), "bad.png": image_bytes(seed=73)}), manifest=manifest.encode(),
    )
    assert batch.error_count == 0 and batch.options["mos_lower_is_better"] is True
    good, bad = Image.objects.get(original_name="good.png"), Image.objects.get(original_name="bad.png")
    assert (good.mos_normalised, bad.mos_normalised) == (pytest.approx(90.0), pytest.approx(30.0))
    assert good.mos_normalised > bad.mos_normalised
    assert (good.mos_raw, good.mos_lower_is_better) == (10.0, True)


def test_dmos_column_flips_its_rows_only(project):
    """A `dmos` column is lower-is-better for its rows; a `mos` row beside it is kept as it is; both in one row is an error."""
    manifest = "filename,mos,dmos,mos_min,mos_max\nd.png,,1,1,5\nm.png,4,,1,5\nboth.png,3,3,1,5\n"
    batch = import_batch_run(
        batch=new_batch(project),
        items=items({"d.png": image_bytes(seed=74), "m.png": image_bytes(seed=75), "both.png": image_bytes(seed=76)}),
        manifest=manifest.encode(),
    )
    d, m = Image.objects.get(original_name="d.png"), Image.objects.get(original_name="m.png")
    assert (d.mos_normalised, d.mos_lower_is_better) == (pytest.approx(100.0), True)
    assert (m.mos_normalised, m.mos_lower_is_better) == (pytest.approx(75.0), False)
    assert "line 4: give a mos or a dmos, not both" in by_name(batch)["both.png"]["message"]
    assert not Image.objects.filter(original_name="both.png").exists()


def test_reference_may_be_an_image_the_project_already_has(project):
    """A reference named in the manifest is found among the project's earlier images."""
    earlier = image_import(project=project, name="pristine.png", data=image_bytes(seed=80)).image
    batch = import_batch_run(
        batch=new_batch(project), items=items({"d.png": image_bytes(seed=81)}), manifest=b"filename,reference\nd.png,pristine.png\n"
    )
    assert batch.error_count == 0
    assert Image.objects.get(original_name="d.png").reference == earlier


@pytest.mark.parametrize(
    "manifest, expected",
    [
        (b"name_of_thing,mos\na.png,3\n", "no file-name column"),
        (b"", "manifest is empty"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
    ],
)
def test_unreadable_manifest_fails_the_batch_and_imports_nothing(project, manifest, expected):
    """A manifest that cannot be read stops the whole batch with a clear message, before any file is stored."""
    batch = import_batch_run(batch=new_batch(project), items=items({"a.png": image_bytes(seed=90)}), manifest=manifest)
    assert batch.status == ImportBatch.Status.FAILED
    assert expected in batch.error
    assert Image.objects.count() == 0


def test_import_options_are_checked():
    """Half a MOS scale, or an empty one, is refused before anything is staged."""
    with pytest.raises(ImportRequestError, match="both ends"):
        import_options_clean(mos_min=1)
    with pytest.raises(ImportRequestError, match="below its maximum"):
        import_options_clean(mos_min=5, mos_max=1)
    assert import_options_clean(mos_min=1, mos_max=5, source_dataset=" KonIQ ") == {"mos_scale": [1.0, 5.0], "source_dataset": "KonIQ"}
    assert import_options_clean(mos_min=0, mos_max=9, mos_lower_is_better=True) == {"mos_scale": [0.0, 9.0], "mos_lower_is_better": True}


# ------------------------------------------------------------------------------------------ staged uploads and the command


def test_staged_upload_is_processed_and_the_staging_area_removed(project, researcher, django_capture_on_commit_callbacks):
    """Uploads are staged with numbered names, processed into a report, and the staging folder is deleted."""
    uploads = [
        SimpleUploadedFile("../../a.png", image_bytes(seed=100)),
        SimpleUploadedFile("b.zip", zip_bytes({"c.png": image_bytes(seed=101), "d.txt": b"x"})),
    ]
    # Capture (do not run) the on-commit enqueue: this test runs the task's body itself.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        batch = import_batch_create(project=project, user=researcher, source=ImportBatch.Source.UPLOAD, files=uploads)
    assert len(callbacks) == 1
    staging = Path(batch.staging_dir)
    assert sorted(p.name for p in staging.iterdir()) == ["00000.upload", "00001.upload", "index.json"]
    import_batch_process_staged(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.DONE
    assert (batch.imported_count, batch.error_count) == (2, 1)
    # Django keeps only the base name of an uploaded file, so a path in it never reaches storage.
    assert sorted(Image.objects.values_list("original_name", flat=True)) == ["a.png", "c.png"]
    assert not staging.exists()
    import_batch_process_staged(batch_id=batch.pk)  # a second delivery changes nothing
    assert Image.objects.count() == 2


def test_upload_without_files_is_refused(project, researcher):
    """Starting an import with no files is a request error, and no batch is created."""
    with pytest.raises(ImportRequestError, match="at least one"):
        import_batch_create(project=project, user=researcher, source=ImportBatch.Source.UPLOAD, files=[])
    assert ImportBatch.objects.count() == 0


def test_import_images_command_reads_folder_and_manifest(project, tmp_path):
    """The management command imports a server folder with a manifest and prints the per-file errors."""
    folder = tmp_path / "pool"
    (folder / "sub").mkdir(parents=True)
    (folder / "ref.png").write_bytes(image_bytes(seed=110))
    (folder / "sub" / "dist.png").write_bytes(image_bytes(seed=111))
    (folder / "junk.png").write_bytes(b"junk")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("filename,mos,reference\nsub/dist.png,2.5,ref.png\njunk.png,3,\n")
    out = io.StringIO()
    call_command("import_images", project.slug, str(folder), "--manifest", str(manifest), "--mos-scale", "1", "5", stdout=out)
    text = out.getvalue()
    assert "junk.png: not an image" in text
    assert "2 imported, 0 duplicates, 1 errors" in text
    dist = Image.objects.get(original_name="sub/dist.png")
    assert dist.reference.original_name == "ref.png" and dist.mos_normalised == pytest.approx(37.5)


def test_import_images_command_flips_dmos(project, tmp_path):
    """--mos-lower-is-better records the option on the batch and flips the manifest's scores."""
    folder = tmp_path / "pool"
    folder.mkdir()
    (folder / "a.png").write_bytes(image_bytes(seed=112))
    (folder / "b.png").write_bytes(image_bytes(seed=113))
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("filename,mos\na.png,0.2\nb.png,0.8\n")
    call_command("import_images", project.slug, str(folder), "--manifest", str(manifest), "--mos-scale", "0", "1",
                 "--mos-lower-is-better", stdout=io.StringIO())
    assert ImportBatch.objects.get().options == {"mos_scale": [0.0, 1.0], "mos_lower_is_better": True}
    normalised = dict(Image.objects.values_list("original_name", "mos_normalised"))
    assert normalised == {"a.png": pytest.approx(80.0), "b.png": pytest.approx(20.0)}


def test_import_images_command_errors(project, tmp_path):
    """The command refuses an unknown project, a missing folder and an unreadable manifest, clearly."""
    with pytest.raises(CommandError, match="no project with slug"):
        call_command("import_images", "nope", str(tmp_path))
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("import_images", project.slug, str(tmp_path / "missing"))
    bad = tmp_path / "m.csv"
    bad.write_text("something\nx\n")
    with pytest.raises(CommandError, match="no file-name column"):
        call_command("import_images", project.slug, str(tmp_path), "--manifest", str(bad))


def test_staged_batch_whose_files_are_gone_fails_with_a_clear_message(project, researcher, django_capture_on_commit_callbacks):
    """If the staging folder vanished (disk cleaned, wrong MEDIA_ROOT on the worker), the batch fails and says why."""
    import shutil

    with django_capture_on_commit_callbacks(execute=False):
        batch = import_batch_create(
            project=project, user=researcher, source=ImportBatch.Source.UPLOAD, files=[SimpleUploadedFile("a.png", image_bytes(seed=120))]
        )
    shutil.rmtree(batch.staging_dir)
    import_batch_process_staged(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED
    assert "gone from the staging area" in batch.error and "upload them again" in batch.error


def test_staged_batch_whose_worker_died_is_failed_by_the_sweep_and_its_staging_removed(
    project, researcher, django_capture_on_commit_callbacks,
):
    """A batch left `running` by a killed worker (its process gone) is failed by the sweep with the reason, its
    staging folder is deleted, and the message delivered later changes nothing."""
    import socket
    import subprocess
    import sys

    from config.sweep import runs_sweep

    with django_capture_on_commit_callbacks(execute=False):
        batch = import_batch_create(
            project=project, user=researcher, source=ImportBatch.Source.UPLOAD, files=[SimpleUploadedFile("a.png", image_bytes(seed=130))]
        )
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=ImportBatch.Status.RUNNING, attempt=1, worker=f"{socket.gethostname()}:{dead.pid}", heartbeat_at=timezone.now(),
    )
    staging = Path(batch.staging_dir)
    assert staging.is_dir()

    changed = runs_sweep()
    batch.refresh_from_db()
    assert changed["annotation.ImportBatch"] == 1 and changed["import_stagings"] == 1
    assert batch.status == ImportBatch.Status.FAILED and "stopped mid-run" in batch.error and "upload the files again" in batch.error
    assert not staging.exists() and batch.staging_dir == ""
    import_batch_process_staged(batch_id=batch.pk)  # the redelivered message
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED and Image.objects.count() == 0
