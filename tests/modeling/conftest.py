"""Fixtures for the app side of the LLM: settings pointing at the loopback server (`online`) or at none (`offline`)."""
import pytest


@pytest.fixture
def online(settings, llm_server):
    """Point the app at the loopback server, quickly: short timeout, no client retries, no local rate limit."""
    settings.LOUPE_LLM_BASE_URL = llm_server.base_url
    settings.LOUPE_LLM_MODEL = "fake-vision-1"
    settings.LOUPE_LLM_API_KEY = "sk-test"
    settings.LOUPE_LLM_TIMEOUT_S = 2.0
    settings.LOUPE_LLM_MAX_RETRIES = 0
    settings.LOUPE_LLM_REQUESTS_PER_MINUTE = 0
    settings.LOUPE_LLM_PROMPT_PRICE_PER_MILLION = 1.0
    settings.LOUPE_LLM_COMPLETION_PRICE_PER_MILLION = 2.0
    return llm_server


@pytest.fixture
def offline(settings):
    settings.LOUPE_LLM_API_KEY = ""
