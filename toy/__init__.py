"""The toy world: a small latent diffusion model in ComfyUI's SD1.5 format with known ground truth (issue 5).

10 shapes x 6 colours = 60 concepts ("a red circle"), a seeded renderer (toy.world), the harness's seeded random
CLIP-L (toy.clip, regenerated and sha256-checked, never committed), a TAESD autoencoder, an oracle classifier
and ComfyUI's smallest SD1.5-detected UNet, trained on CPU (toy.build) and committed as fp16 weights in
toy/weights/. toy.assemble writes the ComfyUI checkpoint toy_shapes.safetensors; bench/toy_eval.py measures
erasure on it. See toy/README.md. Nothing is imported here: submodules that need torch or ComfyUI import them.
"""
