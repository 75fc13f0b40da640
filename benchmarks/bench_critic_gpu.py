"""The critic at real size (issue 19): training steps/s, images/s scored and peak memory, next to bare transformers.

GPU run (one command; every config under benchmarks/configs/ that fits the card):
    .venv/bin/python benchmarks/bench_critic_gpu.py
CPU, tiny model, about a minute (no GPU needed):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_critic_gpu.py --tiny
Parameter counts and memory estimates only (CPU, seconds; the README's memory table):
    .venv/bin/python benchmarks/bench_critic_gpu.py --estimate

Each model is built from its config alone: random weights of the real shape (throughput does not depend on the
values), the family's real image processor settings, and a small tokenizer trained in code (the tiny critic's)
whose token ids all fall inside the real vocabulary. For each model it prints:

- scoring: Loupe's ``score_images`` (one forward pass per image, five level probabilities, left-padded batches)
  against a bare ``model(**batch, logits_to_keep=1)`` on batches encoded beforehand, same batch size and dtype;
- training: Loupe's ``train_critic`` (LoRA r=16 on the attention projections and the projector, gradient
  checkpointing on for real sizes) against a bare forward/backward/AdamW step of the same model on batches encoded
  beforehand, same batch size and dtype;
- peak GPU memory of each (peak RSS on CPU);
- scoring throughput with 1 and 2 worker processes pulling chunks of images from a queue, as `gpu` workers pull
  chunk tasks from the broker (each process on its own GPU when there are two, else sharing the one; on CPU, one
  thread each). The broker's own cost is left out; tests/integration/test_scoring_workers.py covers that path.

Targets (issue 19): Loupe within 1.2x of bare for both; 2 workers >= 1.8x the images/s of 1.
"""
from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import torch

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIGS = ("llava_onevision_0.5b", "qwen2_vl_2b", "qwen2_vl_7b", "llava_onevision_7b")
_TOKEN_FIELDS = {
    "llava_onevision": {"image_token_index": "<image>", "video_token_index": "<video>"},
    "qwen2_vl": {"image_token_id": "<|image_pad|>", "video_token_id": "<|video_pad|>",
                 "vision_start_token_id": "<|vision_start|>", "vision_end_token_id": "<|vision_end|>"},
}


# ------------------------------------------------------------------------------------------ building


def _model_config(spec: dict, tokenizer=None):
    """The transformers config of a spec; token ids remapped to `tokenizer`'s when given."""
    from transformers import LlavaOnevisionConfig, Qwen2VLConfig

    kwargs = json.loads(json.dumps(spec["model"]))
    if tokenizer is not None:
        for field, token in _TOKEN_FIELDS[spec["family"]].items():
            kwargs[field] = tokenizer.convert_tokens_to_ids(token)
        kwargs["text_config"]["eos_token_id"] = tokenizer.convert_tokens_to_ids("<|im_end|>")
        kwargs["text_config"]["pad_token_id"] = tokenizer.pad_token_id
    return (LlavaOnevisionConfig if spec["family"] == "llava_onevision" else Qwen2VLConfig)(**kwargs)


def _processor_dir(spec: dict, directory: Path):
    """Tokenizer, chat template and the family's real image processor settings, saved as a checkpoint would be."""
    from transformers import LlavaOnevisionImageProcessorPil, Qwen2VLImageProcessorPil

    from modeling.critic.core.tiny import build_tiny_tokenizer

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(spec["family"])
    tokenizer.save_pretrained(directory)
    image_cls = LlavaOnevisionImageProcessorPil if spec["family"] == "llava_onevision" else Qwen2VLImageProcessorPil
    image_cls(**spec["image_processor"]).save_pretrained(directory)
    (directory / "processor_config.json").write_text(json.dumps(spec["processor"], indent=2) + "\n")
    (directory / "chat_template.jinja").write_text(tokenizer.chat_template)
    return tokenizer


def build_critic(spec: dict | None, workdir: Path, device: torch.device, dtype: torch.dtype):
    """A Critic of the spec's real architecture with random weights; `spec=None`: the tiny demo critic (load_critic)."""
    from transformers import AutoModelForImageTextToText

    from modeling.critic.core.loading import LEVEL_WORDS, PAIR_WORDS, Critic, load_processor, single_token_ids

    if spec is None:
        from modeling.critic.core.loading import load_critic
        from modeling.critic.core.tiny import TinyCriticConfig, build_tiny_critic

        directory = workdir / "tiny"
        if not (directory / "config.json").is_file():
            build_tiny_critic(directory, TinyCriticConfig())
        return load_critic(directory, device=device, dtype=dtype)
    directory = workdir / spec["name"]
    tokenizer = _processor_dir(spec, directory)
    config = _model_config(spec, tokenizer)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    model.eval()
    processor = load_processor(directory, model_type=config.model_type)
    return Critic(
        model=model, processor=processor, model_type=config.model_type, device=device, dtype=dtype,
        level_token_ids=single_token_ids(processor.tokenizer, LEVEL_WORDS),
        pair_token_ids=single_token_ids(processor.tokenizer, PAIR_WORDS), directory=directory,
    )


def _images(n: int, size: int, seed: int = 0):
    from modeling.critic.core.synthetic import SOURCE_IMAGES, distorted_images

    rng = np.random.default_rng(seed)
    crops = max(1, -(-n // (len(SOURCE_IMAGES) * 3)))
    made = distorted_images(sources=SOURCE_IMAGES, crops_per_source=crops, rng=rng, size=size, distortions=["blur", "noise"])
    return made[:n]


# ------------------------------------------------------------------------------------------ measuring


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_reset(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB GPU"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS (process peak so far)"


def bench_scoring(critic, pil_images, batch_size: int) -> dict:
    from modeling import conversations as conv
    from modeling.critic.core.scoring import _scoring_messages, score_images

    device = critic.device
    score_images(critic, pil_images[:batch_size], batch_size=batch_size)  # warm-up
    _peak_reset(device)
    _sync(device)
    started = time.perf_counter()
    result = score_images(critic, pil_images, batch_size=batch_size)
    _sync(device)
    loupe_s = time.perf_counter() - started
    loupe_peak = _peak(device)
    assert result.probabilities.shape == (len(pil_images), 5)

    prompt = critic.render(_scoring_messages("scoring", 1, conv.ConversationConfig()), add_generation_prompt=True) + conv.ANSWER_PREFIX_SCORE
    batches = [critic.encode([prompt] * len(rows), [[im] for im in rows])
               for rows in (pil_images[i : i + batch_size] for i in range(0, len(pil_images), batch_size))]
    _peak_reset(device)
    with torch.no_grad():
        critic.model(**batches[0], logits_to_keep=1)
        _sync(device)
        started = time.perf_counter()
        for batch in batches:
            critic.model(**batch, logits_to_keep=1).logits[:, -1, :].float().cpu()
        _sync(device)
    bare_s = time.perf_counter() - started
    n = len(pil_images)
    return {"loupe_images_s": n / loupe_s, "bare_images_s": n / bare_s, "ratio": loupe_s / bare_s,
            "loupe_peak": loupe_peak, "bare_peak": _peak(device), "tokens_per_row": int(batches[0]["input_ids"].shape[1])}


def bench_training(critic, images, *, steps: int, batch_size: int, tiny: bool, workdir: Path) -> dict:
    from modeling import conversations as conv
    from modeling.critic.core.loading import enable_gradient_checkpointing
    from modeling.critic.core.lora import CriticTrainingSettings, apply_training_settings
    from modeling.critic.core.training import TrainingConfig, conversation_batch, train_critic

    device = critic.device
    rng = np.random.default_rng(0)
    lookup = {im.key: im.image() for im in images}
    conversations = conv.scoring_conversations([conv.ScoredImage(im.key, im.quality) for im in images], rng=rng)
    apply_training_settings(critic, CriticTrainingSettings.tiny(vision_feature_layer=None) if tiny else CriticTrainingSettings())
    if not tiny:
        enable_gradient_checkpointing(critic)

    def loupe(n_steps: int, out: str):
        config = TrainingConfig(max_steps=n_steps, batch_size=batch_size, learning_rate=1e-4, vision_warmup_steps=0, seed=0)
        return train_critic(critic, conversations, output_dir=workdir / out, config=config, image_loader=lookup.__getitem__)

    loupe(2, "warm")
    _peak_reset(device)
    _sync(device)
    result = loupe(steps, "timed")
    loupe_steps_s = result.steps / result.seconds
    loupe_peak = _peak(device)

    batches = [conversation_batch(critic, [conversations[(i * batch_size + j) % len(conversations)] for j in range(batch_size)], lookup.__getitem__)
               for i in range(steps)]
    parameters = [p for p in critic.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=1e-4)
    critic.model.train()
    _peak_reset(device)

    def step(batch):
        loss = critic.model(**batch).loss  # transformers' own loss: logits over the whole sequence
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(batches[0])
    _sync(device)
    started = time.perf_counter()
    for batch in batches:
        step(batch)
    _sync(device)
    bare_s = time.perf_counter() - started
    critic.model.eval()
    return {"loupe_steps_s": loupe_steps_s, "bare_steps_s": steps / bare_s, "ratio": (1 / loupe_steps_s) / (bare_s / steps),
            "loupe_peak": loupe_peak, "bare_peak": _peak(device), "trainable": sum(p.numel() for p in parameters)}


def _scoring_worker(rank, spec, workdir, dtype_name, size, batch_size, chunks, results, ready, go):
    """One 'gpu worker': load the critic, then pull chunks of image indices until the queue is empty."""
    torch.set_num_threads(1)
    n_gpus = torch.cuda.device_count()
    device = torch.device(f"cuda:{rank % n_gpus}") if n_gpus else torch.device("cpu")
    from modeling.critic.core.scoring import score_images

    critic = build_critic(spec, Path(workdir) / f"worker{rank}", device, getattr(torch, dtype_name))
    pil = [im.image() for im in _images(batch_size * 4, size, seed=rank)]
    score_images(critic, pil[:batch_size], batch_size=batch_size)  # warm-up, as a worker that scored before
    ready.put(rank)
    go.wait()
    done = 0
    while True:
        try:
            chunk = chunks.get(timeout=0.5)
        except Exception:
            break
        score_images(critic, [pil[i % len(pil)] for i in chunk], batch_size=batch_size)
        done += len(chunk)
    _sync(device)
    results.put((rank, done, time.perf_counter()))


def bench_workers(spec, workdir: Path, dtype_name: str, size: int, batch_size: int, n_images: int, chunk: int, n_workers: int) -> float:
    """Images/s of `n_workers` processes pulling `chunk`-image chunks until `n_images` are scored."""
    ctx = mp.get_context("spawn")
    chunks, results, ready, go = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event()
    for start in range(0, n_images, chunk):
        chunks.put(list(range(start, min(start + chunk, n_images))))
    procs = [ctx.Process(target=_scoring_worker, args=(r, spec, str(workdir), dtype_name, size, batch_size, chunks, results, ready, go))
             for r in range(n_workers)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=1800)
    started = time.perf_counter()
    go.set()
    finished = [results.get(timeout=3600) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    total = sum(done for _, done, _ in finished)
    assert total == n_images, (total, n_images)
    return n_images / (max(end for _, _, end in finished) - started)


# ------------------------------------------------------------------------------------------ reports


def estimate(spec: dict) -> str:
    """Parameter counts and weight memory from the config (meta device: nothing is allocated)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from modeling.critic.core.lora import language_attention_pattern

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(_model_config(spec), dtype=torch.bfloat16)
    total = sum(p.numel() for p in model.parameters())
    linear = sum(m.weight.numel() for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "lm_head" not in name)
    lora = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=language_attention_pattern()))
    adapter = sum(p.numel() for n, p in lora.named_parameters() if "lora_" in n)
    projector = sum(p.numel() for n, p in model.named_parameters() if "projector" in n or "merger" in n)
    trainable = adapter + projector
    bf16 = 2 * total / 2**30
    four_bit = (0.5 * 1.03 * linear + 2 * (total - linear)) / 2**30  # NF4 + its block constants; the rest stays bf16
    states = 16 * trainable / 2**30  # fp32 weight, gradient and two AdamW moments per trainable parameter
    return (f"{spec['name']}: {total / 1e9:.2f} B parameters ({linear / 1e9:.2f} B in linear layers), trainable with LoRA "
            f"r=16 + projector {trainable / 1e6:.1f} M | weights bf16 {bf16:.1f} GiB, 4-bit {four_bit:.1f} GiB | "
            f"trainable states {states:.2f} GiB | LoRA training needs weights + states + activations")


def _bench_one(spec, name, card, workdir, device, dtype, args, *, size, n_images, batch, train_batch, steps, chunk, tiny) -> dict:
    """Scoring, training and 1-vs-2 worker figures of one model, printed as they come."""
    critic = build_critic(spec, workdir, device, dtype)
    pil = [im.image() for im in _images(n_images, size)]
    scoring = bench_scoring(critic, pil, batch)
    print(f"{name} scoring: Loupe {scoring['loupe_images_s']:.1f} images/s, bare {scoring['bare_images_s']:.1f} images/s, "
          f"Loupe/bare time {scoring['ratio']:.2f}x (target <= 1.2); {scoring['tokens_per_row']} tokens a row; "
          f"peak {scoring['loupe_peak']} (bare {scoring['bare_peak']})", flush=True)
    training = bench_training(critic, _images(max(64, train_batch * steps), size, seed=1), steps=steps,
                              batch_size=train_batch, tiny=tiny, workdir=workdir)
    print(f"{name} training: Loupe {training['loupe_steps_s']:.2f} steps/s, bare {training['bare_steps_s']:.2f} steps/s, "
          f"Loupe/bare time {training['ratio']:.2f}x (target <= 1.2); {training['trainable'] / 1e6:.1f} M trainable; "
          f"peak {training['loupe_peak']} (bare {training['bare_peak']})", flush=True)
    del critic, pil
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    dtype_name = str(dtype).removeprefix("torch.")
    rates = {n: bench_workers(spec, workdir, dtype_name, size, batch, n_images * 2, chunk, n) for n in args.workers}
    line = ", ".join(f"{n} worker(s) {rate:.1f} images/s" for n, rate in rates.items())
    if 1 in rates and 2 in rates:
        line += f"; 2 vs 1: {rates[2] / rates[1]:.2f}x (target >= 1.8)"
    print(f"{name} scoring workers: {line}", flush=True)
    return {"model": name, "device": card, "scoring": scoring, "training": training, "workers": rates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="*", default=list(DEFAULT_CONFIGS), help="names under benchmarks/configs/ (or paths)")
    parser.add_argument("--tiny", action="store_true", help="the tiny demo critic on CPU, about a minute")
    parser.add_argument("--estimate", action="store_true", help="parameter counts and memory estimates only")
    parser.add_argument("--images", type=int, default=None, help="images scored per measurement")
    parser.add_argument("--image-size", type=int, default=None, help="side of the square test images (pixels)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--train-batch-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed training steps")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--chunk", type=int, default=None, help="images per worker chunk")
    parser.add_argument("--cpu", action="store_true", help="run the configs on the CPU (a check of the script with small configs)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    specs = [json.loads((Path(c) if c.endswith(".json") else CONFIG_DIR / f"{c}.json").read_text()) for c in args.configs]
    if args.estimate:
        for spec in specs:
            print(estimate(spec), flush=True)
        return
    cuda = torch.cuda.is_available() and not args.tiny and not args.cpu
    device = torch.device("cuda") if cuda else torch.device("cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    if not cuda:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        if not args.cpu:
            specs = [None]  # the tiny critic: real-size models are not run on CPU
    tiny = args.tiny or (not cuda and not args.cpu)
    size = args.image_size or (64 if tiny else 448)
    n_images = args.images or (64 if tiny else 256)
    batch = args.batch_size or (16 if tiny else 16)
    train_batch = args.train_batch_size or (4 if tiny else 4)
    steps = args.steps or (10 if tiny else 10)
    chunk = args.chunk or (16 if tiny else 64)
    card = torch.cuda.get_device_name(0) if cuda else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"device: {card}; dtype {dtype}; images {size}x{size}; scoring batch {batch}; training batch {train_batch}; torch {torch.__version__}", flush=True)
    figures = []
    with tempfile.TemporaryDirectory(prefix="bench-critic-gpu-") as tmp:
        workdir = Path(tmp)
        for spec in specs:
            name = spec["name"] if spec else "tiny demo critic (llava_onevision)"
            try:
                figures.append(_bench_one(spec, name, card, workdir, device, dtype, args, size=size, n_images=n_images,
                                          batch=batch, train_batch=train_batch, steps=steps, chunk=chunk, tiny=tiny))
            except torch.OutOfMemoryError as error:
                print(f"{name}: out of memory on {card} ({str(error).splitlines()[0]}); skipped", flush=True)
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
