"""`manage.py benchmark_gpt4_score RUN_ID [--base-url URL --model NAME --credential NAME]`: judge a run's descriptions."""
from django.core.management.base import BaseCommand, CommandError

from config.egress import EgressRefused
from config.parsing import parse_int
from studies.services.judge import JudgeEndpoint, judge_endpoint_check, judge_endpoint_default
from system_benchmarks.models import BenchmarkRun
from system_benchmarks.services.judging import benchmark_run_gpt4_score
from system_benchmarks.services.runs import BenchmarkError


class Command(BaseCommand):
    help = (
        "GPT4-score (DepictQA) of a done benchmark run's single-stimulus chain-of-thought answers against the images' "
        "human descriptions, by the configured LLM (LOUPE_LLM_BASE_URL / LOUPE_LLM_MODEL) unless told otherwise. "
        "Prints the figure and stores it in the run's results."
    )

    def add_arguments(self, parser):
        parser.add_argument("run_id", help="The benchmark run's id.")
        parser.add_argument("--base-url", help="The judge's OpenAI-compatible base URL (default: LOUPE_LLM_BASE_URL).")
        parser.add_argument("--model", help="The judge's model (default: LOUPE_LLM_MODEL).")
        parser.add_argument("--credential", help="The name of a registered credential (default: `llm` when a key is set).")

    def handle(self, *args, run_id, base_url, model, credential, **options):
        default = judge_endpoint_default()
        run = parse_int(run_id)
        if run is None:
            raise CommandError(f"{run_id!r} is not a run id.")
        try:
            endpoint = JudgeEndpoint(base_url or default.base_url, model or default.model, default.key_env if credential is None else credential)
            judge_endpoint_check(endpoint)
            summary = benchmark_run_gpt4_score(run_id=run, endpoint=endpoint)
        except (ValueError, EgressRefused, BenchmarkError) as error:
            raise CommandError(str(error)) from None
        except BenchmarkRun.DoesNotExist:
            raise CommandError(f"No benchmark run #{run}.") from None
        score = "—" if summary["gpt4_score"] is None else f"{summary['gpt4_score']:.1f}%"
        self.stdout.write(f"GPT4-score {score} by {summary['model']}: {summary['scored']} scored, {summary['failed']} unreadable, "
                          f"{summary['no_reference']} without a human description.")
        if summary["stopped"]:
            raise CommandError(summary["stopped"])
