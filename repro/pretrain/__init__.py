"""Pretraining of the embedded mini text-to-image model (the stand-in for Stable Diffusion) on the pool.

Stage 1 trains the autoencoder (:mod:`.autoencoder`), stage 2 the UNet and text encoder on cached latents
(:mod:`.diffusion`), both in resumable chunks (:mod:`.loop`); :mod:`.export` writes the fp16 diffusers folder
and :mod:`.card` its model card. ``repro pretrain`` (:mod:`.cli`) runs them.
"""
