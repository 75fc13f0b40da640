"""Make a loaded critic trainable: LoRA on the language model's attention, projector trainable.

Defaults follow paper 000 (VisualCritic), Table 8: ``r=16``, ``alpha=32``, dropout
0.1, vision tower frozen, the projector between vision and language trained. Tiny
random models cannot learn through LoRA alone, so :class:`CriticTrainingSettings`
also offers a full fine-tune, a trainable vision tower and an earlier vision layer.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from modeling.critic.core.model import Critic

__all__ = [
    "ADAPTER_SETTINGS_FILE",
    "FULL_WEIGHTS_FILE",
    "CriticTrainingSettings",
    "apply_training_settings",
    "language_attention_pattern",
    "load_adapter",
    "projector_module_names",
    "save_adapter",
    "trainable_parameter_count",
    "vision_module_names",
]

ADAPTER_SETTINGS_FILE = "critic_settings.json"
FULL_WEIGHTS_FILE = "full_weights.safetensors"

# Module names of the vision-to-language projector and of the vision tower, per family.
PROJECTOR_NAMES = ("multi_modal_projector", "merger", "connector", "mm_projector")
VISION_NAMES = ("vision_tower", "visual", "vision_model")
# The language model's own sub-module, whose attention LoRA adapts.
LANGUAGE_MODEL_NAMES = ("language_model", "text_model")


def language_attention_pattern(projections=("q_proj", "k_proj", "v_proj", "o_proj")) -> str:
    """A regex (peft full-match on the module path) for the language model's attention projections.

    The path must pass through ``language_model`` (or ``text_model``), so the SigLIP
    vision layers, which also have ``self_attn.q_proj``, are not matched.
    """
    lm = "|".join(LANGUAGE_MODEL_NAMES)
    proj = "|".join(re.escape(p) for p in projections)
    return rf"(?:.*\.)?(?:{lm})\.(?:.*\.)?layers\.\d+\.self_attn\.(?:{proj})"


def _top_level_matches(model: torch.nn.Module, names) -> list[str]:
    """Module paths whose last component is in ``names``, without nested duplicates."""
    found = [path for path, _ in model.named_modules() if path.rsplit(".", 1)[-1] in names]
    return [p for p in found if not any(p != q and p.startswith(q + ".") for q in found)]


def projector_module_names(model: torch.nn.Module) -> list[str]:
    """Paths of the projector modules (``multi_modal_projector``, ``merger``, ``connector``)."""
    return _top_level_matches(model, PROJECTOR_NAMES)


def vision_module_names(model: torch.nn.Module) -> list[str]:
    """Paths of the vision tower (``vision_tower``, ``visual``, ``vision_model``)."""
    return _top_level_matches(model, VISION_NAMES)


@dataclass(frozen=True)
class CriticTrainingSettings:
    """Which parameters train, and how.

    Attributes
    ----------
    r, alpha, dropout : int, int, float
        LoRA rank, scaling numerator and dropout (paper 000, Table 8: 16, 32, 0.1).
    projections : tuple of str
        Attention projections of the language model that get LoRA.
    train_projector : bool
        Train the vision-to-language projector (saved with the adapter).
    train_vision : bool
        Train the vision tower too (off for real models; on for tiny random ones).
    full_finetune : bool
        No LoRA: every parameter trains and the whole weights are saved (tiny models).
    vision_feature_layer : int or None
        Negative index of the vision hidden state fed to the projector, for families
        that have one (LLaVA); None keeps the checkpoint's.
    seed : int
        Seeds the random LoRA initialisation (the global RNG is left as it was).
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.1
    projections: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    train_projector: bool = True
    train_vision: bool = False
    full_finetune: bool = False
    vision_feature_layer: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.r <= 0:
            raise ValueError("r must be > 0")
        if self.alpha <= 0:
            raise ValueError("alpha must be > 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if not self.projections:
            raise ValueError("projections must name at least one module")
        if self.vision_feature_layer is not None and self.vision_feature_layer >= 0:
            # Index 0 is the embedding output in some families and crashes in others.
            raise ValueError("vision_feature_layer must be a negative index")

    @classmethod
    def tiny(cls, *, vision_feature_layer: int | None = -2) -> CriticTrainingSettings:
        """Settings with which a tiny random critic can learn: everything trains, early vision features."""
        return cls(full_finetune=True, train_vision=True, dropout=0.0, vision_feature_layer=vision_feature_layer)


def _set_vision_feature_layer(critic: Critic, layer: int | None) -> None:
    if layer is None:
        return
    config = critic.model.config
    if not hasattr(config, "vision_feature_layer"):
        raise ValueError(f"{critic.model_type} has no vision_feature_layer to set")
    n_layers = config.vision_config.num_hidden_layers
    if layer < -(n_layers + 1):
        raise ValueError(f"vision_feature_layer must be >= {-(n_layers + 1)} for {n_layers} vision layers")
    config.vision_feature_layer = layer


def apply_training_settings(critic: Critic, settings: CriticTrainingSettings = CriticTrainingSettings()) -> Critic:
    """Freeze, unfreeze or wrap ``critic.model`` in place as ``settings`` say; returns the critic.

    With LoRA the model becomes a ``peft.PeftModel``; LoRA targets the language
    model's attention projections (:func:`language_attention_pattern`), the projector
    (and with ``train_vision`` the vision tower) go into ``modules_to_save``.

    Raises
    ------
    ValueError
        No projector or vision module found where one must train, or an invalid
        ``vision_feature_layer``.
    """
    _set_vision_feature_layer(critic, settings.vision_feature_layer)
    model = critic.model
    if settings.full_finetune:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        if not settings.train_vision:
            for name in vision_module_names(model):
                model.get_submodule(name).requires_grad_(False)
        critic.training_settings = settings
        return critic

    from peft import LoraConfig, get_peft_model

    modules_to_save = []
    if settings.train_projector:
        projectors = projector_module_names(model)
        if not projectors:
            raise ValueError(f"no projector module ({', '.join(PROJECTOR_NAMES)}) in {critic.model_type}")
        modules_to_save += [p.rsplit(".", 1)[-1] for p in projectors]
    if settings.train_vision:
        towers = vision_module_names(model)
        if not towers:
            raise ValueError(f"no vision module ({', '.join(VISION_NAMES)}) in {critic.model_type}")
        modules_to_save += [t.rsplit(".", 1)[-1] for t in towers]
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=language_attention_pattern(settings.projections),
        modules_to_save=modules_to_save or None,
        bias="none",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        critic.model = get_peft_model(model, config)
    critic.training_settings = settings
    return critic


def trainable_parameter_count(model: torch.nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def save_adapter(critic: Critic, directory, *, state_dict: dict | None = None) -> list[Path]:
    """Save what training changed: the peft adapter, or the full weights after a full fine-tune.

    ``state_dict``: the model's whole state when it is not in ``critic.model`` itself (FSDP: gathered on process 0).

    Also writes :data:`ADAPTER_SETTINGS_FILE` (the settings, the base model type and
    the vision feature layer) so :func:`load_adapter` restores the same model.

    Returns
    -------
    list of Path
        The files written, sorted (their checksums identify the artifact).
    """
    from peft import PeftModel
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    settings = getattr(critic, "training_settings", None)
    if isinstance(critic.model, PeftModel):
        critic.model.save_pretrained(directory, state_dict=state_dict)
    else:
        state = {k: v.detach().contiguous().cpu() for k, v in (state_dict if state_dict is not None else critic.model.state_dict()).items()}
        save_file(state, str(directory / FULL_WEIGHTS_FILE))
    record = {
        "model_type": critic.model_type,
        "vision_feature_layer": getattr(critic.model.config, "vision_feature_layer", None),
        "settings": asdict(settings) if settings is not None else None,
    }
    (directory / ADAPTER_SETTINGS_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return sorted(p for p in directory.rglob("*") if p.is_file())


def load_adapter(critic: Critic, directory, *, trainable: bool = False) -> Critic:
    """Put a saved adapter (or full fine-tuned weights) onto ``critic`` in place.

    Raises
    ------
    FileNotFoundError
        The directory holds neither ``adapter_config.json`` nor :data:`FULL_WEIGHTS_FILE`.
    ValueError
        The artifact was trained on another model type.
    """
    directory = Path(directory)
    record_path = directory / ADAPTER_SETTINGS_FILE
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    if record.get("model_type") not in (None, critic.model_type):
        raise ValueError(f"adapter was trained on {record['model_type']}, not {critic.model_type}")
    if record.get("vision_feature_layer") is not None:
        _set_vision_feature_layer(critic, record["vision_feature_layer"])
    if (directory / "adapter_config.json").is_file():
        from peft import PeftModel

        critic.model = PeftModel.from_pretrained(critic.model, directory, is_trainable=trainable)
    elif (directory / FULL_WEIGHTS_FILE).is_file():
        from safetensors.torch import load_file

        state = load_file(str(directory / FULL_WEIGHTS_FILE), device=str(critic.device))
        critic.model.load_state_dict(state, strict=True)
    else:
        raise FileNotFoundError(f"{directory} holds no adapter_config.json or {FULL_WEIGHTS_FILE}")
    critic.model.to(critic.device)
    if record.get("settings"):
        settings = dict(record["settings"])
        settings["projections"] = tuple(settings["projections"])
        critic.training_settings = CriticTrainingSettings(**settings)
    return critic
