"""Node "ScaPre Erasure Preview": every erased prompt and some kept ones, sampled before and after, as one grid."""

from __future__ import annotations

from ..scapre_core import ConceptSet
from ..scapre_core.concepts import BLANK_ANCHOR
from ..scapre_core.collateral import WORST
from .host import patches, sampling
from .host.node_api import CATEGORY, Concepts, io
from .preview_grid import MAX_MEGAPIXELS, Row, check_grid_size, erasure_grid, zoom_for


def preview_rows(concepts: ConceptSet, preserved: int, general: tuple[str, ...] = ()) -> list[Row]:
    """The grid's prompts: every erased concept, then the first `preserved` prompts of the '+' lines, then the
    ``general`` prompts (the general prompts the edit moved most).

    This is where the phrasings a concept set expands each concept into belong, each right after its concept,
    once ConceptSet carries them.
    """
    erased = [Row(c.text, erased=True, anchor=None if c.anchor == BLANK_ANCHOR else c.anchor) for c in concepts.erase]
    kept = list(dict.fromkeys(concepts.preserve[:preserved] + tuple(general)))
    return erased + [Row(prompt, erased=False) for prompt in kept]


def most_moved_prompts(edited, count: int) -> tuple[str, ...]:
    """The first ``count`` general prompts that the ScaPre edit on ``edited`` moved most (its reports name them);
    refuses a model without a ScaPre edit or whose edit names none."""
    if count == 0:
        return ()
    infos = patches.scapre_infos(edited)
    if not infos:
        raise ValueError("most_moved: the 'edited' model carries no ScaPre edit, so there are no most-moved general "
                         "prompts to show; connect ScaPre Unlearn's MODEL, or set most_moved to 0")
    named = tuple(dict.fromkeys(prompt for info in infos for prompt in info.most_moved))
    if not named:
        raise ValueError("most_moved: the edit's report names no general prompts (the general preserve prior of this "
                         "text encoder was not at hand: an edit with the preserve prior 'general' computes it once, "
                         "then every report names them); set most_moved to 0")
    return named[:count]


class ScaPreErasurePreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ScaPreErasurePreview",
            display_name="ScaPre Erasure Preview",
            category=CATEGORY,
            description="What the edit does to images: samples every erased prompt, the first preserved ('+') "
                        "prompts and, optionally, the general prompts the edit moved most, with the original and "
                        "the edited model at the same seeds (as KSampler does, with a blank negative prompt, on the "
                        "family's own empty latent: one frame for video models) "
                        "and returns one labelled grid: a row per prompt, 'erased' or 'kept', columns 'before' and "
                        f"'after'. Grids over {MAX_MEGAPIXELS} megapixels are refused.",
            inputs=[
                io.Model.Input("original", tooltip="The model before ScaPre, e.g. Load Checkpoint's MODEL."),
                io.Model.Input("edited", tooltip="The model after ScaPre: ScaPre Unlearn's MODEL."),
                io.Clip.Input("clip", tooltip="The text encoder of the model, for the prompts."),
                io.Vae.Input("vae", tooltip="The model's own VAE: it decodes the samples into images, and its latent "
                                            "grid sets the samples' size."),
                Concepts.Input("concepts", tooltip="The concept list the edit erased (ScaPre Concept List)."),
                io.Int.Input("seed", default=0, min=0, max=2**64 - 1, control_after_generate=False,
                             tooltip="The noise seed, the same for every prompt and for both models."),
                io.Int.Input("steps", default=20, min=1, max=10000, tooltip="Sampling steps per image."),
                io.Float.Input("cfg", default=7.5, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Classifier-free guidance scale."),
                io.Combo.Input("sampler_name", options=sampling.SAMPLERS, default="euler", tooltip="The sampler."),
                io.Combo.Input("scheduler", options=sampling.SCHEDULERS, default="normal", tooltip="The scheduler."),
                io.Int.Input("width", default=512, min=16, max=4096, step=8,
                             tooltip="Width of each sample, rounded down to the VAE's latent grid (8 px; 16 for "
                                     "Wan 2.2 TI2V-5B, FLUX.2 and HunyuanVideo 1.5)."),
                io.Int.Input("height", default=512, min=16, max=4096, step=8,
                             tooltip="Height of each sample, rounded down to the VAE's latent grid."),
                io.Int.Input("samples", default=1, min=1, max=8,
                             tooltip="Images per prompt and model: one latent batch, as KSampler with this batch "
                                     "size."),
                io.Int.Input("preserved", default=4, min=0, max=64,
                             tooltip="How many preserved ('+') prompts to show, from the top of the list."),
                io.Int.Input("most_moved", default=0, min=0, max=WORST, optional=True,
                             tooltip="Optional: how many of the general prompts the edit moved most to show as "
                                     "extra 'kept' rows (the ones ScaPre Unlearn's report names: its collateral)."),
            ],
            outputs=[io.Image.Output(display_name="grid",
                                     tooltip="Rows: the erased prompts, then the kept ones; left the original "
                                             "model ('before'), right the edited one ('after'). Samples under 128 "
                                             "px are enlarged (nearest neighbour).")],
        )

    @classmethod
    def execute(cls, original, edited, clip, vae, concepts: ConceptSet, seed: int, steps: int, cfg: float,
                sampler_name: str, scheduler: str, width: int, height: int, samples: int,
                preserved: int, most_moved: int = 0) -> io.NodeOutput:
        rows = preview_rows(concepts, preserved, most_moved_prompts(edited, most_moved))
        size = sampling.image_size(vae, width, height)  # whole latent positions, as the empty-latent nodes
        zoom = zoom_for(size[1])
        check_grid_size(len(rows), samples, *size, zoom)  # before any sampling
        settings = sampling.SamplerSettings(seed, steps, cfg, sampler_name, scheduler, *size, samples)
        for model in (original, edited):
            sampling.empty_latent(model, vae, settings)  # refuses a VAE or a family it cannot sample, first
        before, after = sampling.sample_prompts([original, edited], clip, vae, [r.prompt for r in rows], settings)
        return io.NodeOutput(erasure_grid(rows, before, after, zoom))
