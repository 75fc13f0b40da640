"""Open any local image-text-to-text checkpoint as a :class:`Critic` through one code path.

The model comes from ``AutoModelForImageTextToText``; the processor is the family's
own processor class with its video part left out (:func:`load_processor`), because
the video processors of LLaVA-OneVision and Qwen2-VL need torchvision, which Loupe
does not install. Everything is read with ``local_files_only=True``: no hub access.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import torch

from modeling.critic.core.lora import load_adapter
from modeling.critic.core.model import LEVEL_WORDS, PAIR_WORDS, Critic

__all__ = [
    "LEVEL_WORDS",
    "PAIR_WORDS",
    "Critic",
    "default_device_and_dtype",
    "image_only_processor_class",
    "load_critic",
    "QUANTIZATION",
    "QuantizationUnavailable",
    "load_processor",
    "single_token_ids",
]

#: Optional 4-/8-bit loading of the frozen base (QLoRA) through bitsandbytes.
QUANTIZATION = ("4bit", "8bit")


class QuantizationUnavailable(RuntimeError):
    """4-/8-bit loading was asked for where it cannot run (bitsandbytes missing, or no CUDA device)."""


def quantization_config(quantization: str, device: torch.device):
    """The ``BitsAndBytesConfig`` for ``"4bit"`` (NF4, bf16 compute, QLoRA) or ``"8bit"``.

    Raises
    ------
    ValueError
        Another value.
    QuantizationUnavailable
        bitsandbytes is not installed, or the device is not CUDA; the message says what to do.
    """
    if quantization not in QUANTIZATION:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATION)} or None, not {quantization!r}")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise QuantizationUnavailable(
            f"{quantization} loading needs bitsandbytes, which is not installed on this worker: "
            "pip install bitsandbytes on a CUDA host, or train without quantization."
        ) from None
    if device.type != "cuda":
        raise QuantizationUnavailable(f"{quantization} loading needs a CUDA device; this worker trains on {device.type}.")
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_use_double_quant=True,
    )


def default_device_and_dtype(device: str | torch.device | None = None) -> tuple[torch.device, torch.dtype]:
    """CUDA with bfloat16 when available (or asked for), else CPU with float32."""
    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return device, (torch.bfloat16 if device.type == "cuda" else torch.float32)


@cache
def image_only_processor_class(base):
    """A subclass of the processor class ``base`` without its video sub-processor.

    ``ProcessorMixin`` loads and checks one sub-processor per entry of
    ``get_attributes()``; dropping ``video_processor`` there is all it takes for the
    image and text paths to work without torchvision.
    """

    class ImageOnlyProcessor(base):
        @classmethod
        def get_attributes(cls):
            return [name for name in super().get_attributes() if "video" not in name]

    ImageOnlyProcessor.__name__ = ImageOnlyProcessor.__qualname__ = f"ImageOnly{base.__name__}"
    return ImageOnlyProcessor


def _processor_class_name(directory: Path, model_type: str) -> str:
    """The processor class a checkpoint names, else the one registered for its model type."""
    for name in ("processor_config.json", "preprocessor_config.json"):
        path = directory / name
        if path.is_file():
            declared = json.loads(path.read_text()).get("processor_class")
            if declared:
                return declared
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    name = PROCESSOR_MAPPING_NAMES.get(model_type)
    if not name:
        raise ValueError(f"no processor class known for model type {model_type!r} in {directory}")
    return name


def load_processor(directory, *, model_type: str | None = None):
    """The checkpoint's processor, image and text only, with left padding.

    Parameters
    ----------
    directory : path-like
        A local checkpoint directory (tiny or downloaded).
    model_type : str, optional
        ``config.json``'s ``model_type``; read from the directory if omitted.

    Raises
    ------
    ValueError
        No processor class can be found for the checkpoint.
    """
    import transformers

    directory = Path(directory)
    if model_type is None:
        model_type = json.loads((directory / "config.json").read_text())["model_type"]
    class_name = _processor_class_name(directory, model_type)
    base = getattr(transformers, class_name, None)
    if base is None:
        raise ValueError(f"transformers has no processor class {class_name!r}")
    processor = image_only_processor_class(base).from_pretrained(directory, local_files_only=True)
    tokenizer = processor.tokenizer
    # Left padding: the last position of every row is the answer position when scoring.
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return processor


def single_token_ids(tokenizer, words) -> tuple[int, ...]:
    """First sub-token id of each word (with its leading space), required distinct.

    Raises
    ------
    ValueError
        Two words share their first sub-token (their probabilities could not be told apart).
    """
    ids = []
    for word in words:
        pieces = tokenizer.encode(word, add_special_tokens=False)
        if not pieces:
            raise ValueError(f"{word!r} encodes to no token")
        ids.append(pieces[0])
    if len(set(ids)) != len(ids):
        raise ValueError(f"the words {list(words)} do not start with distinct tokens: {ids}")
    return tuple(ids)


def load_critic(
    directory,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    gradient_checkpointing: bool = False,
    adapter_directory=None,
    quantization: str | None = None,
) -> Critic:
    """Load a critic from a local checkpoint directory (never from the hub).

    Parameters
    ----------
    directory : path-like
        Checkpoint with ``config.json``, weights, tokenizer and image-processor files.
    device : str or torch.device, optional
        Default: CUDA if available, else CPU.
    dtype : torch.dtype, optional
        Default: bfloat16 on CUDA, float32 on CPU.
    gradient_checkpointing : bool
        Trade compute for memory in training (disables the KV cache).
    adapter_directory : path-like, optional
        A saved adapter or fine-tuned weights (:func:`modeling.critic.core.lora.load_adapter`).
    quantization : {"4bit", "8bit"} or None
        Load the frozen base quantised through bitsandbytes (QLoRA; CUDA only).

    Returns
    -------
    Critic
        In eval mode.

    Raises
    ------
    FileNotFoundError
        ``directory`` has no ``config.json``.
    ValueError
        The level words (or pair words) do not start with distinct tokens.
    QuantizationUnavailable
        ``quantization`` asked for where bitsandbytes or CUDA is missing.
    """
    from transformers import AutoModelForImageTextToText

    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"{directory} has no config.json")
    device, default_dtype = default_device_and_dtype(device)
    dtype = dtype or default_dtype
    if quantization is not None:
        from peft import prepare_model_for_kbit_training

        model = AutoModelForImageTextToText.from_pretrained(
            directory, dtype=dtype, local_files_only=True, quantization_config=quantization_config(quantization, device),
            device_map={"": device},
        )
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    else:
        model = AutoModelForImageTextToText.from_pretrained(directory, dtype=dtype, local_files_only=True)
        model.to(device)
    model_type = model.config.model_type
    processor = load_processor(directory, model_type=model_type)
    critic = Critic(
        model=model,
        processor=processor,
        model_type=model_type,
        device=device,
        dtype=dtype,
        level_token_ids=single_token_ids(processor.tokenizer, LEVEL_WORDS),
        pair_token_ids=single_token_ids(processor.tokenizer, PAIR_WORDS),
        directory=directory,
    )
    if adapter_directory is not None:
        load_adapter(critic, adapter_directory)
    if gradient_checkpointing:
        enable_gradient_checkpointing(critic)
    critic.model.eval()
    return critic


def enable_gradient_checkpointing(critic: Critic) -> None:
    """Recompute activations in the backward pass; the KV cache is switched off."""
    critic.model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    critic.model.config.use_cache = False
