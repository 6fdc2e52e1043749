"""Node "ScaPre Options": the advanced settings of ScaPre Unlearn, each widget showing the value it will use.

Built from one table, FIELDS: a row per ScaPreConfig field the node exposes. Everything else is derived: the
widget kind from the field's type in ScaPreConfig (float: a number, int: a whole number, bool: an on/off toggle,
str: a list of `choices`, float | None: a "<widget>_rule" choice of "auto" (the recipe's rule, `auto`) or
"fixed" (the number that follows it)), every default and the recipes' values named in each tooltip from
CONFIG_PRESETS. To expose a new ScaPreConfig field, add its row. The frontend shows widgets by their names (it
ignores display names), so a row's `widget` names the widget when the field's own name would not read well.

A new node shows the values of DEFAULT_RECIPE. The frontend extension (web/js/scapre.js) refills every widget
with the values of the recipe chosen on the ScaPre Unlearn node it is connected to, when it is connected and
whenever that recipe changes; it reads those values from ScaPre Unlearn's "options" input (`recipe_values`).
On the server the options apply on top of ScaPre Unlearn's recipe: a field the prompt leaves out keeps the
recipe's value.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

from ..scapre_core import CONFIG_PRESETS, ScaPreConfig
from ..scapre_core.config import NEGATIVES
from ..scapre_core.tokens import ALIGNMENTS
from .host.node_api import CATEGORY, io

DEFAULT_RECIPE = "uce_prior"
"""The recipe a new ScaPre Unlearn shows: the best on toy world v3 for a list of names to erase (docs/BENCHMARKS.md)."""
PRECISIONS = ("float32", "float64")
RULE_SUFFIX, AUTO, FIXED = "_rule", "auto", "fixed"
"""A float | None field's widget `x` follows the widget `x_rule`: "auto" (None; the frontend greys `x`) or "fixed"."""

Options = io.Custom("SCAPRE_OPTIONS")
"""Socket type carrying an ``UnlearnOptions``."""


@dataclass(frozen=True)
class Field:
    """One ScaPreConfig field shown on ScaPre Options (kind, default and recipe values come from ScaPreConfig)."""

    name: str
    tooltip: str
    min: float = 0.0
    max: float | None = None
    step: float | None = None
    widget: str = ""
    """The widget's name, when it is not the field's."""
    choices: tuple[str, ...] = ()
    """The values of a str field."""
    auto: str = ""
    """What None means for a float | None field (the recipe's rule), e.g. "max(0.1, 1 / n)"."""

    @property
    def kind(self) -> type:
        """float, int, bool, str, or None for float | None."""
        hint = typing.get_type_hints(ScaPreConfig)[self.name]
        if typing.get_args(hint) == (float, type(None)):
            return type(None)
        return hint

    @property
    def id(self) -> str:
        """The widget's name, and the input's in a prompt."""
        return self.widget or self.name


FIELDS: tuple[Field, ...] = (
    Field("erase_scale", "Weight of the erase term; higher erases harder.", max=100.0, step=0.1),
    Field("preserve_scale", "Weight that keeps the '+' prompts (and the empty prompt) unchanged.", max=100.0,
          step=0.05, auto="max(0.1, 1 / n)"),
    Field("lam", "Ridge pulling the edited weights towards the original ones.", min=0.01, max=100.0, step=0.05,
          widget="lambda"),
    Field("p", "Exponent of the Informax soft mask (with informax on).", min=0.5, max=64.0, step=0.5),
    Field("informax", "Informax soft masks on the erase targets."),
    Field("spectral", "Spectral regulariser (the scapre method only)."),
    Field("bures_iters", "Iterations of the row-wise Bures step (the scapre method only).", min=1, max=10),
    Field("alpha_min", "Floor of the entropy rollback (the scapre_base method only); 1 = no rollback.", max=1.0,
          step=0.05),
    Field("entropy_samples", "Noisy samples per concept for the activation entropy.", min=1, max=1000),
    Field("prior_scale", "Weight of the preserve prior's term (the prior is chosen on ScaPre Concept List, or by the "
          "recipe): 1 weighs it like one + line of average content; OCE's global preservation weight.", max=100.0,
          step=0.05),
    Field("nullspace", "Null-space precision: confine the update to the complement of the top principal directions "
          "of what is preserved (the + lines, and the preserve prior when on)."),
    Field("nullspace_energy", "Fraction of the preserved features' energy whose directions the null space protects "
          "(with nullspace on); more protects more and erases less.", min=0.5, max=0.9999, step=0.001),
    Field("informax_negatives", "What the Informax masks contrast each concept with: empty (the empty prompt's end "
          "token, as released) or preserve (its most similar + lines, the look-alikes).",
          choices=NEGATIVES),
    Field("values_only", "Edit only the value projections (to_v), as OCE's release does."),
    Field("alignment", "Which token positions of a concept are paired with its anchor's: auto (SD: released; FLUX.1, "
          "SD3, Chroma, Wan: span; the LLM-read families: words), released (last word, end token, padding: UCE's), "
          "span (every word token and the end token), span+pads (and the padding), all (every position), words "
          "(every word token; an LLM's end token is its chat template's, the same in every prompt).",
          choices=("auto", *ALIGNMENTS)),
)
"""The advanced settings, in widget order."""


@dataclass(frozen=True)
class UnlearnOptions:
    """What ScaPre Options passes to ScaPre Unlearn: ScaPreConfig changes and the precision of the products."""

    changes: dict
    precision: str = "float32"


def recipe_value(field: Field, recipe: str):
    return getattr(CONFIG_PRESETS[recipe], field.name)


def widget_values(recipe: str) -> dict:
    """Widget name -> the value that shows `recipe`'s setting (a float | None field at None: only its rule)."""
    values = {}
    for field in FIELDS:
        value = recipe_value(field, recipe)
        if field.kind is type(None):
            values[field.id + RULE_SUFFIX] = AUTO if value is None else FIXED
            if value is None:
                continue
        values[field.id] = value
    return values


def _shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return "auto" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _recipes_tooltip(field: Field) -> str:
    values = {recipe: _shown(recipe_value(field, recipe)) for recipe in CONFIG_PRESETS}
    if len(set(values.values())) == 1:
        return f" Every recipe: {next(iter(values.values()))}."
    return " Recipes: " + ", ".join(f"{recipe} {value}" for recipe, value in values.items()) + "."


def _inputs(field: Field) -> list:
    tooltip = field.tooltip + _recipes_tooltip(field)
    default = recipe_value(field, DEFAULT_RECIPE)
    kind = field.kind
    if kind is bool:
        return [io.Boolean.Input(field.id, default=default, label_on="on", label_off="off", optional=True,
                                 tooltip=tooltip)]
    if kind is str:
        return [io.Combo.Input(field.id, options=list(field.choices), default=default, optional=True, tooltip=tooltip)]
    if kind is int:
        return [io.Int.Input(field.id, default=default, min=int(field.min), max=int(field.max), optional=True,
                             tooltip=tooltip)]
    number = dict(min=field.min, max=field.max, step=field.step, optional=True)
    if kind is float:
        return [io.Float.Input(field.id, default=default, tooltip=tooltip, **number)]
    # float | None: "auto" keeps the recipe's rule, "fixed" uses the number below
    fixed = [v for v in (recipe_value(field, r) for r in CONFIG_PRESETS) if v is not None]
    rule = field.id + RULE_SUFFIX
    return [io.Combo.Input(rule, options=[AUTO, FIXED], default=AUTO if default is None else FIXED, optional=True,
                           tooltip=f"auto: {field.id} follows the recipe's rule, {field.auto}. fixed: the value of "
                                   f"{field.id} below."),
            io.Float.Input(field.id, default=default if default is not None else (fixed or [field.min])[0],
                           tooltip=tooltip + f" Used when {rule} is fixed.", **number)]


def options_from_widgets(values: dict) -> UnlearnOptions:
    """The UnlearnOptions of the widget values a prompt gives (a field left out keeps the recipe's value)."""
    changes = {}
    for field in FIELDS:
        rule = values.get(field.id + RULE_SUFFIX) if field.kind is type(None) else None
        if rule == FIXED and field.id not in values:
            raise ValueError(f"ScaPre Options: {field.id + RULE_SUFFIX} is fixed but {field.id} is not given")
        if rule is not None:
            changes[field.name] = None if rule == AUTO else float(values[field.id])
        elif field.id in values:
            changes[field.name] = values[field.id]
    return UnlearnOptions(changes, values.get("precision", "float32"))


def describe_changes(config: ScaPreConfig, recipe: str) -> list[str]:
    """"widget value (recipe: value)" for every shown field where `config` differs from `recipe`."""
    return [f"{field.id} {_shown(getattr(config, field.name))} (recipe: {_shown(recipe_value(field, recipe))})"
            for field in FIELDS if getattr(config, field.name) != recipe_value(field, recipe)]


class ScaPreOptions(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ScaPreOptions",
            display_name="ScaPre Options",
            category=CATEGORY,
            description="Advanced settings for ScaPre Unlearn: connect it to Unlearn's 'options' input. The values "
                        "are those of the recipe chosen on that ScaPre Unlearn node (refilled when you connect it or "
                        "choose another recipe there); change any of them to override the recipe.",
            inputs=[widget for field in FIELDS for widget in _inputs(field)] + [
                io.Combo.Input("precision", options=list(PRECISIONS), default="float32", optional=True,
                               tooltip="Precision of the per-layer products (the per-edit decomposition always runs "
                                       "in float64). Not part of a recipe."),
            ],
            outputs=[Options.Output(display_name="options", tooltip="For ScaPre Unlearn's 'options' input.")],
        )

    @classmethod
    def execute(cls, **values) -> io.NodeOutput:
        return io.NodeOutput(options_from_widgets(values))
