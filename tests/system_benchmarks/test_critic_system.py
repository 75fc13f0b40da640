"""A trained (tiny) critic version as the benchmarked system: answers chosen by likelihood, parsed like any other."""
import pytest

from annotation.vocabulary import TaskKind
from evaluation.protocols import answer_parse, prompt_build
from modeling.critic import runs as critic_runs, services as critic_services, storage
from modeling.critic.models import CriticVersion
from system_benchmarks.critic_answers import critic_answer
from system_benchmarks.models import BenchmarkCall, BenchmarkRun
from system_benchmarks.services.execution import benchmark_run_execute
from system_benchmarks.services.runs import BenchmarkError, RunSpec, benchmark_run_create
from tests.evaluation.judgement_builders import annotators_make, judgements_add
from tests.system_benchmarks.conftest import labelled

pytestmark = pytest.mark.django_db

QUICK = {"optimisation": {"max_steps": 2, "batch_size": 2, "vision_warmup_steps": 2}, "data": {"heldout_fraction": 0.3}, "scoring_batch_size": 8}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    """One tiny random base critic for the module (the demo's default base, built offline)."""
    import torch

    torch.set_num_threads(2)
    directory, _ = storage.critic_tiny_base_ensure(tmp_path_factory.mktemp("critic-base") / "tiny")
    return directory


@pytest.fixture
def trained_version(settings, tmp_path, tiny_base, project):
    """A critic version trained in-process for two steps on ratings of 12 labelled images."""
    settings.LOUPE_CRITIC_BASE_DIR = str(tiny_base)
    settings.LOUPE_CRITIC_DIR = tmp_path / "critic"
    settings.LOUPE_CRITIC_RETRAIN_EVERY = 0
    images = labelled(project, 12)
    judgements_add(project, [(image, 1 + i % 5) for i, image in enumerate(images)], annotators_make(project, 2), kind=TaskKind.RATING)
    version = critic_runs.critic_version_train(critic_services.critic_version_request(project=project, overrides=QUICK).pk)
    assert version.status == CriticVersion.Status.READY, version.error
    return version


def test_a_critic_version_answers_every_protocol_in_a_parseable_format(project, researcher, trained_version):
    """single → 'Score: x', double → 'Answer: Image A/B', multiple → 'Ranking: ...': all parse, and the run reports metrics."""
    spec = RunSpec(
        system_kind="critic", critic_version_id=trained_version.pk, protocols=["single", "double", "multiple"],
        promptings=["standard", "in_context"], subset_size=8, rounds=1, list_size=3,
    )
    run = benchmark_run_create(project=project, user=researcher, spec=spec)
    run = benchmark_run_execute(run_id=run.pk)
    assert run.status == BenchmarkRun.Status.DONE, run.error
    assert run.n_unparseable == 0 and run.n_failed == 0 and run.n_answered == run.n_calls
    answers = {call.protocol: call.answer for call in run.calls.all()}
    assert answers["single"].startswith("Score: ") and answers["double"] in ("Answer: Image A", "Answer: Image B")
    assert answers["multiple"].startswith("Ranking: ") and answers["multiple"].count(">") == 2
    assert {(c["protocol"], c["prompting"]) for c in run.results["cells"]} == {
        (p, s) for p in ("single", "double", "multiple") for s in ("standard", "in_context")
    }
    single = run.calls.filter(protocol="single").first()
    assert 0.0 <= single.parsed <= 100.0


def test_critic_answer_parses_under_the_same_parser(trained_version, project):
    """critic_answer's text for a 4-image ranking is a permutation the parser accepts."""
    critic = critic_runs.load_trained(trained_version)
    load = critic_runs.image_loader(critic_runs.image_names(list(project.images.values_list("id", flat=True)[:4])))
    images = [load(str(i)) for i in project.images.values_list("id", flat=True)[:4]]
    text = critic_answer(critic, "multiple", prompt_build("multiple", "standard", n_images=4), [], images)
    parsed = answer_parse("multiple", text, n_images=4)
    assert parsed.ok and sorted(parsed.value) == [0, 1, 2, 3]


def test_an_untrained_version_cannot_be_benchmarked(project, researcher):
    """Only a version with a trained adapter is accepted, with a reason."""
    labelled(project, 6)
    version = CriticVersion.objects.create(project=project, number=1, base_model_dir="/x")
    spec = RunSpec(system_kind="critic", critic_version_id=version.pk, protocols=["single"], promptings=["standard"])
    with pytest.raises(BenchmarkError, match="only a trained version"):
        benchmark_run_create(project=project, user=researcher, spec=spec)
    assert not BenchmarkCall.objects.exists()
