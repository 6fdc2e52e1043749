"""The toy world (v2): a small latent diffusion model in ComfyUI's SD1.5 format with known ground truth (issue 8).

12 shapes in look-alike triples x 6 colours x 4 styles = 288 concepts ("a striped red circle", three phrasings
each), a seeded renderer (toy.world), a CLIP-L whose weights are set by rule (toy.clip, rebuilt and sha256-checked,
never committed), a TAESD autoencoder, an oracle classifier (shape, colour, style) and a two-level SD1.5-detected
UNet with six cross-attentions, trained on CPU (toy.build) and committed as fp16 weights in toy/weights/.
toy.assemble writes the ComfyUI checkpoint toy_shapes.safetensors; bench/toy_eval.py measures erasure on it and
bench/toy_geometry.py the encoder's geometry. See toy/README.md. Nothing is imported here: submodules that need
torch or ComfyUI import them.
"""
