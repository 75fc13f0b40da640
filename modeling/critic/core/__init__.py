"""The critic: a vision-language model with a LoRA adapter that scores and describes image quality.

Django-free (DESIGN.md, "Cores without Django"): :mod:`.tiny` builds small offline
checkpoints, :mod:`.loading` opens any local checkpoint, :mod:`.lora` wraps it for
training, :mod:`.training` trains on :mod:`modeling.conversations`, :mod:`.scoring`
reads level probabilities and generates text. Import the submodules directly; this
package import stays light (no torch).
"""
