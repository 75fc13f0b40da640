"""Critic versions for worker tests: a finished one in seconds, for scoring (the tiny base with a fresh, untrained LoRA
adapter), and a queued one with rating judgements to train on, for runs that are killed or resumed.

The finished one goes through the real save, checksum and load path (save_adapter, artifact_sha256, load_trained);
only the training steps are left out, which scoring does not need.
"""
from annotation.vocabulary import TaskKind
from modeling.critic import services as critic_services, storage
from modeling.critic.data import heldout_split, judgement_last_id
from modeling.critic.models import CriticVersion
from modeling.critic.runs import ADAPTER_DIR
from tests.evaluation.judgement_builders import annotators_make, judgements_add
from tests.work_data import project_images


def trainable_version(project, overrides: dict) -> CriticVersion:
    """A queued version of the tiny critic with `overrides` of its default settings, as critic_version_request makes it
    (not enqueued), on 24 images whose training split has ratings from two annotators."""
    images = project_images(project, 24)
    train_ids, _ = heldout_split(project=project, fraction=0.3)
    train = [image for image in images if image.pk in set(train_ids.tolist())]
    judgements_add(project, [(image, 1 + i % 5) for i, image in enumerate(train)], annotators_make(project, 2), kind=TaskKind.RATING)
    base_dir, _ = storage.critic_tiny_base_ensure(storage.critic_base_dir())
    chosen = critic_services._merged(critic_services.training_settings_default(tiny=True), overrides)
    version = CriticVersion.objects.create(
        project=project, number=1, base_model_dir=str(base_dir), is_tiny=True, training_settings=chosen,
        last_judgement_id=judgement_last_id(project=project),
    )
    version.artifact_dir = f"{project.pk}/{version.pk}"
    version.save(update_fields=["artifact_dir"])
    return version


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
