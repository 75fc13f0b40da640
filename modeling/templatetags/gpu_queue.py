"""`{% gpu_wait_note %}`: what a queued gpu-queue run waits for (modeling/gpu_queue.py)."""
from django import template

from modeling.gpu_queue import gpu_queue_wait_note

register = template.Library()


@register.simple_tag
def gpu_wait_note() -> str:
    return gpu_queue_wait_note()
