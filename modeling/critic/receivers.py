"""Receivers of the critic: thin, each calls one service (connected in modeling/apps.py)."""
from modeling.critic.selectors import critic_history
from modeling.critic.services import critic_retrain_if_due


def judgements_submitted_critic(sender, *, project, judgement, **kwargs) -> None:
    """A usable judgement came in: queue a retrain if LOUPE_CRITIC_RETRAIN_EVERY have since the last version."""
    if judgement.excluded:
        return
    critic_retrain_if_due(project=project)


def quality_report_critic(sender, *, project, **kwargs) -> dict:
    """The quality dashboard's `critic` section: each evaluated version's held-out metrics, oldest first."""
    return {"critic": critic_history(project=project)}
