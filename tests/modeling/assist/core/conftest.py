"""Fixtures for the LLM core: a client wired to the loopback server (tests/conftest.py's `llm_server`), questionnaire labels."""
from __future__ import annotations

import random

import pytest

from modeling.assist.core.client import LLMClient, LLMConfig
from modeling.assist.core.prompts import QuestionnaireLabels


class RecordingSleep:
    """An injected ``sleep`` that records the delays instead of waiting."""

    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps():
    return RecordingSleep()


@pytest.fixture
def make_client(llm_server, sleeps):
    """``make_client(**config_overrides)``: an LLMClient on the fake server whose sleeps are recorded."""
    clients = []

    def _make(**overrides) -> LLMClient:
        settings = {"base_url": llm_server.base_url, "model": "fake-vision-1", "api_key": "sk-test",
                    "timeout_s": 2.0, "max_retries": 2, **overrides}
        client = LLMClient(LLMConfig(**settings), sleep=sleeps, rng=random.Random(7))
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def labels() -> QuestionnaireLabels:
    """Labels from the real vocabulary (tests may import Django modules; the core may not)."""
    from annotation import vocabulary as v

    return QuestionnaireLabels(
        texture_categories=dict(v.TEXTURE_CATEGORIES),
        texture_conditions=dict(v.TEXTURE_CONDITIONS),
        distortions=dict(v.DISTORTIONS),
        severities=dict(v.DISTORTION_SEVERITIES),
        overall_distortion=dict(v.OVERALL_DISTORTION),
        comparison_scale=dict(v.COMPARISON_SCALE),
        overall_comparison=dict(v.OVERALL_COMPARISON),
        pair_choices={choice.value: choice.label for choice in v.PairChoice},
        levels=dict(v.LEVELS),
    )
