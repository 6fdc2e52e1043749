"""The toy world: a small latent diffusion model in ComfyUI's SD1.5 format with known ground truth (issues 8, 14).

v3, the default world (toy.names): 275 names a user would type ("golden retriever", "tiger"), nine look-alike
groups and four artists, each name drawn as one visual of v2's renderer, with a rule-built CLIP-L that reads
word semantics (toy.wordclip); weights in toy/weights/names, checkpoint toy_names.safetensors, benchmark
bench/toy_eval.py. v2 (TOY_WORLD=shapes; toy.world: 12 shapes in look-alike triples x 6 colours x 4 styles =
288 concepts, "a striped red circle") failed its calibration and stays as the first stage of v3's lineage: v3
draws its visuals with its renderer, oracle and TAESD, and its UNet was trained from v2's (toy/weights/*.safetensors;
checkpoint toy_shapes.safetensors, benchmark bench/shapes_eval.py). toy.env describes both worlds; toy.build
trains, toy.assemble writes the ComfyUI checkpoint, bench/toy_geometry.py measures the encoder's geometry. See
toy/README.md. Nothing is imported here: submodules that need torch or ComfyUI import them.
"""
