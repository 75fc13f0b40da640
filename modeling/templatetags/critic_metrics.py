"""`{{ block|heldout:"srcc" }}`: one held-out metric of a critic version, or "too few to judge" on too few images."""
from django import template
from django.template.defaultfilters import floatformat

from evaluation.metrics import srcc_interval
from modeling.critic.selectors import metric_block_judgeable

register = template.Library()

TOO_FEW = "too few to judge"


@register.filter
def heldout(block, key: str) -> str:
    """The metric `key` of a metrics block (`{"n": ..., "srcc": ...}`) with 3 decimals; "—" when there is none."""
    if not isinstance(block, dict) or block.get(key) is None:
        return "—"
    if not metric_block_judgeable(block):
        return TOO_FEW
    return floatformat(block[key], 3)


@register.filter
def heldout_interval(block) -> str:
    """The 95 % interval of a judgeable block's SRCC (evaluation.metrics.srcc_interval), e.g. "95 % CI 0.19 to 0.72"; else ""."""
    if not metric_block_judgeable(block) or block.get("srcc") is None:
        return ""
    low, high = srcc_interval(float(block["srcc"]), block["n"])
    return f"95 % CI {floatformat(low, 2)} to {floatformat(high, 2)}"
