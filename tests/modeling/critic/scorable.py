"""A finished critic version in seconds, for scoring tests: the tiny base with a fresh (untrained) LoRA adapter.

It goes through the real save, checksum and load path (save_adapter, artifact_sha256, load_trained); only the
training steps are left out, which scoring does not need.
"""
from modeling.critic import services as critic_services, storage
from modeling.critic.models import CriticVersion
from modeling.critic.runs import ADAPTER_DIR


def scorable_version(project, *, number: int = 1, status=CriticVersion.Status.READY, scoring_batch_size: int = 8) -> CriticVersion:
    """A `ready` version of the project's tiny base critic with a saved adapter and its checksum."""
    from modeling.critic.core.loading import load_critic
    from modeling.critic.core.lora import CriticTrainingSettings, apply_training_settings, save_adapter
    from modeling.critic.core.training import artifact_sha256

    base_dir, _ = storage.critic_tiny_base_ensure(storage.critic_base_dir())
    chosen = critic_services._merged(critic_services.training_settings_default(tiny=True), {"scoring_batch_size": scoring_batch_size})
    version = CriticVersion.objects.create(
        project=project, number=number, status=status, base_model_dir=str(base_dir), is_tiny=True, training_settings=chosen,
        metrics={"evaluated": True},
    )
    version.artifact_dir = f"{project.pk}/{version.pk}"
    critic = load_critic(base_dir, device="cpu")
    apply_training_settings(critic, CriticTrainingSettings(dropout=0.0))
    save_adapter(critic, storage.version_path(version) / ADAPTER_DIR)
    version.artifact_sha256, _ = artifact_sha256(storage.version_path(version))
    version.model_type = critic.model_type
    version.save(update_fields=["artifact_dir", "artifact_sha256", "model_type"])
    return version
