/**
 * ScaPre for ComfyUI: workflows saved with ScaPre 0.1.0, whose ScaPre Unlearn node had ten advanced widgets after
 * recipe, strength and seed (they moved to the ScaPre Options node after 0.1.0). Pure functions; scapre.js applies
 * them when such a workflow is loaded. nodes/unlearn.py (legacy_settings) has the same rules for API prompts.
 */

/** The 0.1.0 advanced widgets of ScaPre Unlearn, in their order after recipe, strength and seed. */
const LEGACY_ADVANCED = ["erase_scale", "preserve_scale", "lam", "p", "informax", "spectral", "bures_iters",
                                "alpha_min", "entropy_samples", "precision"];
export const LEGACY_LENGTH = 3 + LEGACY_ADVANCED.length;

/** Whether a 0.1.0 advanced value changed the recipe (-1, 0, "recipe" and float32 kept the recipe's value). */
function isSet(name, value) {
    if (name === "informax" || name === "spectral") return value === "on" || value === "off";
    if (name === "precision") return value === "float64";
    if (name === "bures_iters" || name === "entropy_samples") return typeof value === "number" && value > 0;
    return typeof value === "number" && value >= 0;
}

/** {name: value} of the advanced settings a 0.1.0 ScaPre Unlearn's widgets_values set (empty when none). */
export function legacySettings(widgetsValues) {
    const settings = {};
    LEGACY_ADVANCED.forEach((name, i) => {
        const value = widgetsValues[3 + i];
        if (isSet(name, value)) settings[name] = value;
    });
    return settings;
}

/** The 0.1.0 widget -> ScaPre Options widget(s) and value(s). */
function optionsWidgets(name, value) {
    if (name === "lam") return { lambda: value };
    if (name === "preserve_scale") return { preserve_scale_rule: "fixed", preserve_scale: value };
    if (name === "informax" || name === "spectral") return { [name]: value === "on" };
    return { [name]: value };
}

/** The ScaPre Options widget values: the recipe's (`recipeValues`, from the server) with `settings` applied. */
export function optionsValues(settings, recipeValues) {
    const values = { ...recipeValues };
    for (const [name, value] of Object.entries(settings)) Object.assign(values, optionsWidgets(name, value));
    return values;
}
