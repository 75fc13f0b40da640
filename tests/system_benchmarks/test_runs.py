"""Benchmark runs in-process against the scripted loopback server: results, unparseable answers, resume, cancel, bad input."""
import socket

import pytest
from django.utils import timezone

from annotation.models import Image

from system_benchmarks.models import BenchmarkCall, BenchmarkRun
from system_benchmarks.services.execution import benchmark_run_execute, call_answer
from system_benchmarks.services.runs import BenchmarkError, RunSpec, benchmark_run_cancel, benchmark_run_create, benchmark_run_resume
from system_benchmarks.systems import EndpointSystem
from tests.llm_server import Ok, Status
from tests.system_benchmarks.conftest import labelled, script_run
from tests.work_data import project_images

pytestmark = pytest.mark.django_db


def _spec(server, **overrides) -> RunSpec:
    values = {
        "system_kind": "endpoint", "endpoint_base_url": server.base_url, "endpoint_model": "fake-vision-1",
        "protocols": ["single", "double", "multiple"], "promptings": ["standard", "chain_of_thought"],
        "subset_size": 8, "seed": 3, "rounds": 2, "list_size": 4,
    }
    return RunSpec(**{**values, **overrides})


def test_a_run_reports_srcc_plcc_and_unparseable_per_protocol(project, researcher, llm_server, django_capture_on_commit_callbacks):
    """Perfect answers with every 7th one garbage: each cell counts its unparseable calls and still ranks the pool right."""
    labelled(project, 12)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server))
    assert len(queued) == 1  # the task is sent on commit
    # 8 single + ceil(8/2)*2 = 8 double + ceil(8/4)*2 = 4 multiple, for each of 2 promptings.
    assert run.n_calls == (8 + 8 + 4) * 2 == run.calls.count()
    script_run(llm_server, run, garbage_every=7)

    run = benchmark_run_execute(run_id=run.pk)
    assert run.status == BenchmarkRun.Status.DONE, run.error
    assert len(llm_server.requests) == run.n_calls
    assert run.n_unparseable == run.n_calls // 7 and run.n_failed == 0
    cells = {(c["protocol"], c["prompting"]): c for c in run.results["cells"]}
    assert set(cells) == {(p, s) for p in ("single", "double", "multiple") for s in ("standard", "chain_of_thought")}
    assert sum(c["n_unparseable"] for c in cells.values()) == run.n_calls // 7
    single = cells[("single", "standard")]
    assert single["srcc"] == pytest.approx(1.0) and single["plcc"] > 0.99 and single["pairwise_accuracy"] == pytest.approx(1.0)
    for cell in cells.values():  # few comparisons per image (2 rounds), so double/multiple rank coarsely
        assert cell["srcc"] is not None and cell["srcc"] > 0.3, cell
        assert cell["srcc_low"] <= cell["srcc"] <= cell["srcc_high"]
    # Every parseable answer read as what was meant: the image with the higher MOS won, rankings follow MOS.
    mos = {row["image_id"]: row["score"] for row in run.pool}
    for call in run.calls.filter(status=BenchmarkCall.Status.ANSWERED, protocol="double"):
        a, b = (mos[i] for i in call.image_ids)
        assert call.parsed == ("a" if a > b else "b"), (call.answer, call.parsed)
    for call in run.calls.filter(status=BenchmarkCall.Status.ANSWERED, protocol="multiple"):
        assert [mos[call.image_ids[k]] for k in call.parsed] == sorted((mos[i] for i in call.image_ids), reverse=True)
    unparseable = run.calls.filter(status=BenchmarkCall.Status.UNPARSEABLE).first()
    assert unparseable.answer.startswith("I am sorry") and unparseable.reason
    # The images went to the server as data URLs: 1 for single, 2 for double, 4 for multiple.
    assert sorted({len(r.image_urls()) for r in llm_server.requests}) == [1, 2, 4]
    assert all(r.body["model"] == "fake-vision-1" for r in llm_server.requests)


def test_in_context_prompts_show_the_exemplars_first(project, researcher, llm_server):
    """In-context calls attach the two exemplar images before the test image and name their human scores."""
    labelled(project, 10)
    run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, protocols=["single"], promptings=["in_context"], subset_size=6))
    chosen = {row["image_id"] for row in run.pool}
    outside = sorted(mos for image_id, mos in Image.objects.filter(project=project).values_list("id", "mos_normalised") if image_id not in chosen)
    assert [row["score"] for row in run.exemplars] == [outside[0], outside[-1]]  # lowest and highest outside the subset
    assert not chosen & {row["image_id"] for row in run.exemplars}
    llm_server.default = Ok("Score: 50")
    run = benchmark_run_execute(run_id=run.pk)
    assert run.status == BenchmarkRun.Status.DONE
    first = llm_server.requests[0]
    assert len(first.image_urls()) == 3
    assert f"example 1: {outside[0]:.0f}" in str(first.messages) and f"example 2: {outside[-1]:.0f}" in str(first.messages)
    cell = run.results["cells"][0]
    assert cell["srcc"] is None  # constant predictions: the correlation is undefined, shown as such


def test_resume_after_a_crash_does_not_redo_finished_calls(project, researcher, llm_server):
    """A worker killed after 5 answered calls leaves the run `running`; the redelivered task makes only the rest."""
    labelled(project, 8)
    run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, promptings=["standard"], subset_size=8))
    script_run(llm_server, run)
    system = EndpointSystem(run)
    for call in run.calls.order_by("id")[:5]:
        call_answer(system, run, call)
    # What a SIGKILL'd worker leaves behind: the row claimed by a process that no longer exists.
    BenchmarkRun.objects.filter(pk=run.pk).update(
        status=BenchmarkRun.Status.RUNNING, worker=f"{socket.gethostname()}:{2**22 + 12345}", heartbeat_at=timezone.now(), attempt=1,
    )
    answered_before = {c.pk: c.answered_at for c in run.calls.exclude(status=BenchmarkCall.Status.PENDING)}
    assert len(answered_before) == 5 and len(llm_server.requests) == 5

    run = benchmark_run_execute(run_id=run.pk)
    assert run.status == BenchmarkRun.Status.DONE and run.attempt == 2
    assert len(llm_server.requests) == run.n_calls  # 5 before the crash + the rest, none twice
    assert {c.pk: c.answered_at for c in run.calls.filter(pk__in=answered_before)} == answered_before
    assert run.n_answered == run.n_calls


def test_a_duplicate_message_while_the_worker_lives_is_dropped(project, researcher, llm_server):
    """A run `running` in a live process with a fresh heartbeat is left alone by a second delivery."""
    labelled(project, 6)
    run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, protocols=["single"], promptings=["standard"]))
    BenchmarkRun.objects.filter(pk=run.pk).update(status=BenchmarkRun.Status.RUNNING, worker=f"{socket.gethostname()}:1", heartbeat_at=timezone.now())
    assert benchmark_run_execute(run_id=run.pk) is None
    assert llm_server.requests == []


def test_a_rejected_endpoint_fails_visibly_and_resume_goes_on(project, researcher, llm_server):
    """A 401 after 3 calls stops the run with the reason; Resume makes only the calls still pending."""
    labelled(project, 6)
    run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, protocols=["single"], promptings=["standard"], subset_size=6))
    llm_server.script(Ok("40"), Ok("50"), Ok("60"), Status(401, "Invalid API key"))
    run = benchmark_run_execute(run_id=run.pk)
    assert run.status == BenchmarkRun.Status.FAILED
    assert "Invalid API key" in run.error and "Resume" in run.error
    assert run.n_answered == 3
    llm_server.default = Ok("Score: 70")
    run = benchmark_run_resume(run=run)
    assert run.status == BenchmarkRun.Status.QUEUED
    run = benchmark_run_execute(run_id=run.pk)
    assert run.status == BenchmarkRun.Status.DONE
    assert len(llm_server.requests) == 4 + 3  # 3 answered + the rejected one, then the 3 left


def test_an_unreadable_reply_fails_only_its_call(project, researcher, llm_server):
    """A 200 without choices marks that call failed (counted), and the run goes on to the end."""
    from tests.llm_server import Malformed

    labelled(project, 5)
    run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, protocols=["single"], promptings=["standard"], subset_size=5))
    llm_server.script(Malformed('{"id": "x"}'))
    llm_server.default = Ok("60")
    run = benchmark_run_execute(run_id=run.pk)
    assert run.status == BenchmarkRun.Status.DONE
    assert run.n_failed == 1 and run.results["cells"][0]["n_failed"] == 1
    assert "LLMBadResponse" in run.calls.get(status=BenchmarkCall.Status.FAILED).reason


def test_cancel_stops_a_queued_run_and_resume_finishes_it(project, researcher, llm_server):
    """Cancel before the worker starts: no call is made; Resume runs it to the end."""
    labelled(project, 5)
    run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, protocols=["single"], promptings=["standard"], subset_size=5))
    run = benchmark_run_cancel(run=run)
    assert run.status == BenchmarkRun.Status.CANCELLED
    assert benchmark_run_execute(run_id=run.pk) is None and llm_server.requests == []
    with pytest.raises(BenchmarkError, match="nothing to cancel"):
        benchmark_run_cancel(run=run)
    llm_server.default = Ok("50")
    benchmark_run_resume(run=run)
    assert benchmark_run_execute(run_id=run.pk).status == BenchmarkRun.Status.DONE


def test_cancel_of_a_run_whose_worker_is_gone_ends_it_at_once_and_resume_finishes_it(project, researcher, llm_server):
    """Cancel of a running run whose worker process is gone: cancelled now, the late redelivery does nothing, Resume finishes."""
    labelled(project, 5)
    run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, protocols=["single"], promptings=["standard"], subset_size=5))
    BenchmarkRun.objects.filter(pk=run.pk).update(
        status=BenchmarkRun.Status.RUNNING, worker=f"{socket.gethostname()}:{2**22 + 12345}", heartbeat_at=timezone.now(), attempt=1,
    )
    run = benchmark_run_cancel(run=run)
    assert run.status == BenchmarkRun.Status.CANCELLED and "stopped answering" in run.error and run.finished_at is not None
    assert benchmark_run_execute(run_id=run.pk) is None and llm_server.requests == []
    llm_server.default = Ok("50")
    benchmark_run_resume(run=run)
    assert benchmark_run_execute(run_id=run.pk).status == BenchmarkRun.Status.DONE


def test_a_missing_key_variable_fails_the_run_with_its_name(project, researcher, llm_server, monkeypatch, settings):
    """The key is read on the worker from the variable the credential registry names; unset, the run fails saying which."""
    settings.LOUPE_ENDPOINT_CREDENTIALS = f"bench=LOUPE_TEST_BENCH_KEY@{llm_server.base_url.split('/')[2]}"
    monkeypatch.delenv("LOUPE_TEST_BENCH_KEY", raising=False)
    labelled(project, 5)
    run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, endpoint_key_env="bench", protocols=["single"], promptings=["standard"]))
    run = benchmark_run_execute(run_id=run.pk)
    assert run.status == BenchmarkRun.Status.FAILED and "LOUPE_TEST_BENCH_KEY is not set" in run.error
    monkeypatch.setenv("LOUPE_TEST_BENCH_KEY", "sk-secret-value")
    llm_server.default = Ok("50")
    benchmark_run_resume(run=run)
    assert benchmark_run_execute(run_id=run.pk).status == BenchmarkRun.Status.DONE
    assert llm_server.requests[0].headers["authorization"] == "Bearer sk-secret-value"
    assert "sk-secret-value" not in str(BenchmarkRun.objects.filter(pk=run.pk).values().get())


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"protocols": ["triple"]}, "choose protocols"),
        ({"promptings": []}, "choose promptings"),
        ({"endpoint_base_url": "ftp://x"}, "http"),
        ({"endpoint_key_env": "sk-proj-abc123"}, "not a registered credential"),
        ({"endpoint_key_env": "DATABASE_URL"}, "not a registered credential"),
        ({"endpoint_base_url": "http://10.0.0.7:8000/v1"}, "not allowed"),
        ({"subset_size": 0}, "subset_size"),
        ({"list_size": 9}, "list_size"),
        ({"system_kind": "critic"}, "critic version"),
    ],
)
def test_bad_run_requests_are_refused_with_a_reason(overrides, message, loopback_endpoints):
    """Unknown protocols, a key pasted where its variable's name belongs, out-of-range sizes: BenchmarkError."""

    class Server:
        base_url = "http://127.0.0.1:9/v1"

    with pytest.raises(BenchmarkError, match=message):
        _spec(Server, **overrides)


def test_too_few_labelled_images_is_refused(project, researcher, llm_server):
    """Without at least 4 labelled images there is nothing to correlate with."""
    labelled(project, 3)
    with pytest.raises(BenchmarkError, match="3 labelled images"):
        benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server))


def test_a_silent_running_run_can_be_resumed_but_a_live_one_cannot(project, researcher, llm_server):
    """Resume refuses a run whose worker is writing, and accepts one silent for longer than the stale limit."""
    from datetime import timedelta

    from config.runs import run_stale_after

    labelled(project, 5)
    run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, protocols=["single"], promptings=["standard"], subset_size=5))
    BenchmarkRun.objects.filter(pk=run.pk).update(status=BenchmarkRun.Status.RUNNING, worker="elsewhere:1", heartbeat_at=timezone.now())
    run.refresh_from_db()
    with pytest.raises(BenchmarkError, match="only a failed, cancelled or silent run resumes"):
        benchmark_run_resume(run=run)
    BenchmarkRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - run_stale_after() - timedelta(minutes=1))
    run.refresh_from_db()
    assert run.is_silent
    llm_server.default = Ok("55")
    benchmark_run_resume(run=run)
    assert benchmark_run_execute(run_id=run.pk).status == BenchmarkRun.Status.DONE


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_run_before_its_next_call(project, researcher, llm_server):
    """Cancel requested while calls are under way: the run stops at the next call, keeps its answers, and Resume finishes it."""
    import threading
    import time

    from django.db import connection

    from tests.llm_server import Slow

    labelled(project, 8)
    run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, protocols=["single"], promptings=["standard"], subset_size=8))
    llm_server.default = Slow(0.2, Ok("50"))

    def cancel_after_two_requests():
        deadline = time.monotonic() + 30
        while len(llm_server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        benchmark_run_cancel(run=BenchmarkRun.objects.get(pk=run.pk))
        connection.close()

    canceller = threading.Thread(target=cancel_after_two_requests)
    canceller.start()
    stopped = benchmark_run_execute(run_id=run.pk)
    canceller.join()
    assert stopped.status == BenchmarkRun.Status.CANCELLED and "Resume" in stopped.error
    made = len(llm_server.requests)
    assert 2 <= made <= 3 and stopped.n_answered == made
    benchmark_run_resume(run=stopped)
    llm_server.default = Ok("60")
    assert benchmark_run_execute(run_id=run.pk).status == BenchmarkRun.Status.DONE
    assert len(llm_server.requests) == run.n_calls


def test_large_images_are_sent_shrunk_and_small_ones_as_stored(project, researcher, llm_server):
    """An image above 1024 px goes to the endpoint as a PNG at most 1024 px wide; small PNGs go byte for byte."""
    import base64
    import io

    from PIL import Image as PILImage

    from annotation.services.imports import image_import
    from tests.factories import image_bytes

    images = labelled(project, 4)
    big = image_import(project=project, name="big.png", data=image_bytes(size=(1500, 900), seed=99)).image
    Image.objects.filter(pk=big.pk).update(mos_normalised=50.0)
    run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, protocols=["single"], promptings=["standard"]))
    system = EndpointSystem(run)
    sent = {}
    for call in run.calls.all():
        call_answer(system, run, call)
        url = llm_server.requests[-1].image_urls()[0]
        sent[call.image_ids[0]] = base64.b64decode(url.split(",", 1)[1])
    assert PILImage.open(io.BytesIO(sent[big.pk])).size == (1024, 614)
    with images[0].file.open("rb") as handle:
        assert sent[images[0].pk] == handle.read()


def test_full_reference_runs_show_the_reference_and_compare_same_content_only(project, researcher, llm_server):
    """Pairs and lists share one reference, which is attached after the exemplars and before the test images (paper 004)."""
    images = labelled(project, 12)
    references = project_images(project, 2)
    for k, image in enumerate(images):
        Image.objects.filter(pk=image.pk).update(reference=references[k // 6])
    spec = _spec(llm_server, protocols=["double", "multiple"], promptings=["standard", "in_context"], subset_size=10, full_reference=True)
    run = benchmark_run_create(project=project, user=researcher, spec=spec)
    reference_of = dict(Image.objects.filter(project=project).values_list("id", "reference_id"))
    assert run.full_reference and run.calls.exists()
    for call in run.calls.all():
        assert call.reference_id and {reference_of[i] for i in call.image_ids} == {call.reference_id}
    pair = [row for row in run.exemplars if row["protocol"] == "double"]
    ranked = [row for row in run.exemplars if row["protocol"] == "multiple"]
    assert len(pair) == 2 and len(ranked) == 4  # one labelled pair; one ranked list of four
    assert len({reference_of[row["image_id"]] for row in pair}) == 1 and len({reference_of[row["image_id"]] for row in ranked}) == 1
    script_run(llm_server, run)
    run = benchmark_run_execute(run_id=run.pk)
    assert run.status == BenchmarkRun.Status.DONE, run.error
    calls = list(run.calls.order_by("id"))
    for call, request in zip(calls, llm_server.requests, strict=True):
        shown = (len(pair) if call.protocol == "double" else len(ranked)) if call.prompting == "in_context" else 0
        assert len(request.image_urls()) == shown + 1 + len(call.image_ids)
        assert "is the Reference" in str(request.messages)
    in_context = next(r for c, r in zip(calls, llm_server.requests) if c.prompting == "in_context" and c.protocol == "multiple")
    assert "Their ranking:" in str(in_context.messages)


def test_full_reference_needs_images_with_a_reference(project, researcher, llm_server):
    """A project whose images have no reference cannot run the full-reference scenario: a clear error, nothing saved."""
    labelled(project, 8)
    with pytest.raises(BenchmarkError, match="labelled images with a reference"):
        benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, full_reference=True))
    assert not BenchmarkRun.objects.exists()


def test_chain_of_thought_descriptions_get_a_gpt4_score(client, project, researcher, llm_server, capsys):
    """The command judges each single-stimulus chain-of-thought answer against the human description; the run page shows it."""
    from django.core.management import call_command

    from tests.exports.data import judge
    from tests.factories import AnnotatorFactory, MembershipFactory, WorkItemFactory

    images = labelled(project, 6)
    annotator = MembershipFactory(project=project, user=AnnotatorFactory()).user
    for image in images[:4]:
        judge(WorkItemFactory(project=project, kind="pathway", image=image), annotator,
              answer={"description": f"Noisy shadows on image {image.pk}.", "conclusion": "Fair."}, level=3)
    run = benchmark_run_create(project=project, user=researcher, spec=_spec(llm_server, protocols=["single"], promptings=["chain_of_thought"], subset_size=6))
    script_run(llm_server, run)
    run = benchmark_run_execute(run_id=run.pk)
    with_reference = sum(1 for call in run.calls.all() if call.image_ids[0] in {i.pk for i in images[:4]})
    replies = [Ok("8 6\nMisses the noise."), Ok("no scores here")] + [Ok("10 7\nClose.")] * (with_reference - 2)
    llm_server.script(*replies)
    call_command("benchmark_gpt4_score", str(run.pk), "--base-url", llm_server.base_url, "--model", "judge-model", "--credential", "")
    run.refresh_from_db()
    summary = run.results["gpt4_score"]
    assert summary["scored"] == with_reference - 1 and summary["failed"] == 1 and summary["no_reference"] == 6 - with_reference
    scores = [(8, 6)] + [(10, 7)] * (with_reference - 2)
    assert summary["gpt4_score"] == pytest.approx(100 * sum(a for _, a in scores) / sum(r for r, _ in scores))
    assert "GPT4-score" in capsys.readouterr().out and run.results["cells"]  # the protocol cells are kept
    judged = llm_server.requests[-with_reference]
    assert "Noisy shadows on image" in str(judged.messages) and judged.body["model"] == "judge-model"
    from django.urls import reverse

    client.force_login(researcher)
    page = client.get(reverse("benchmarks:run", kwargs={"project_id": project.pk, "benchmark_run_id": run.pk})).content.decode()
    assert f"{summary['gpt4_score']:.1f}%" in page and "without a human description" in page
