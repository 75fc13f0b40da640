"""The names of Loupe's Celery queues, in one place."""
from enum import StrEnum


class Queue(StrEnum):
    DEFAULT = "default"  # selection, scaling, LLM calls, imports, exports
    GPU = "gpu"  # training, scoring, generation: one task at a time per GPU worker
