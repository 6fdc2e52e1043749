/**
 * ScaPre for ComfyUI: the rules of scapre_core.parse_concepts (scapre_core/concepts.py) in the browser, for the
 * live summary of ScaPre Concept List while typing. The server stays the authority: it parses the list again
 * when the prompt runs. Pure functions, no frontend imports; tests/data/concept_cases.json holds the cases that
 * tests/integration/test_concept_rules.py checks against both the Python parser and this module.
 *
 * Where the Python parser stops at the first mistake (a ConceptError naming the line), parseConcepts notes it in
 * `refused` and goes on as if that line were blank, so the summary can list every line the server will refuse,
 * one after the other. Messages are the parser's, down to Python's repr() quoting of names.
 */

const BLANK_ANCHOR = " ";
const NOTHING_TO_ERASE = "the concept list has nothing to erase (every line is blank, a comment or '+')";

// The line boundaries of Python's str.splitlines() and the characters of str.isspace() (what str.strip() removes).
const LINE_BREAK = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;
const SPACE = "[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const STRIP = new RegExp(`^${SPACE}+|${SPACE}+$`, "g");
// What Python's repr() escapes: str.isprintable() is false for these (the space itself is printable).
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** Python's str.splitlines(). */
function splitLines(text) {
    const lines = text.split(LINE_BREAK);
    if (lines.length && lines[lines.length - 1] === "") lines.pop();
    return lines;
}

/** Python's str.strip(). */
function strip(text) {
    return text.replace(STRIP, "");
}

/** Python's str.casefold(), closely enough for names (upper then lower case maps "ß" to "ss", as casefold). */
function casefold(text) {
    return text.toUpperCase().toLowerCase().replace(/ς/g, "σ");
}

/** Python's repr() of a str: single quotes unless the text has a ' and no ", escapes as Python writes them. */
function repr(text) {
    const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
    let out = quote;
    for (const ch of text) {
        const code = ch.codePointAt(0);
        if (ch === "\\" || ch === quote) out += "\\" + ch;
        else if (ch === "\t") out += "\\t";
        else if (ch === "\n") out += "\\n";
        else if (ch === "\r") out += "\\r";
        else if (ch !== " " && NOT_PRINTABLE.test(ch)) {
            const [prefix, width] = code < 0x100 ? ["\\x", 2] : code < 0x10000 ? ["\\u", 4] : ["\\U", 8];
            out += prefix + code.toString(16).padStart(width, "0");
        } else out += ch;
    }
    return out + quote;
}

/** Concept.to_line(): "text" or "text -> anchor". */
export function conceptLine(concept) {
    return concept.anchor === BLANK_ANCHOR ? concept.text : `${concept.text} -> ${concept.anchor}`;
}

/**
 * The concept list `text` on top of `base` (the parsed preset, or null), as parse_concepts reads it.
 *
 * Returns {erase: [{text, anchor, line}], preserve: [{text, line}], warnings: [string], refused: [{line, text,
 * reason}]}; `line` is null for entries of the base list, and a refused entry with line null is the list as a
 * whole (nothing to erase).
 */
export function parseConcepts(text, base = null) {
    const erase = new Map(); // casefolded name -> {text, anchor, line}
    const preserve = new Map(); // casefolded name -> {text, line}
    const warnings = base ? [...base.warnings] : [];
    const refused = [];
    for (const c of base?.erase ?? []) erase.set(casefold(c.text), { ...c, line: null });
    for (const p of base?.preserve ?? []) preserve.set(casefold(p.text), { ...p, line: null });
    const where = (line) => (line === null ? "the base list" : `line ${line}`);

    splitLines(text).forEach((raw, index) => {
        const number = index + 1;
        const refuse = (reason) => refused.push({ line: number, text: strip(raw), reason });
        const line = strip(raw.split("#", 1)[0]);
        if (!line) return;
        if (line.startsWith("+")) {
            const name = strip(line.slice(1));
            if (!name) return refuse("'+' must be followed by a prompt to preserve");
            if (name.includes("->")) return refuse("a preserved prompt cannot have an anchor ('->')");
            const key = casefold(name);
            if (erase.has(key)) {
                return refuse(`${repr(name)} is both erased (${where(erase.get(key).line)}) and preserved`);
            }
            if (preserve.has(key)) {
                warnings.push(`line ${number}: ${repr(name)} repeats ${where(preserve.get(key).line)}; merged`);
                return;
            }
            preserve.set(key, { text: name, line: number });
            return;
        }
        const arrow = line.indexOf("->");
        const name = strip(arrow < 0 ? line : line.slice(0, arrow));
        const anchor = arrow < 0 ? BLANK_ANCHOR : strip(line.slice(arrow + 2));
        if (!name) return refuse("missing the concept before '->'");
        if (arrow >= 0 && !anchor) return refuse("empty anchor after '->'");
        const key = casefold(name);
        if (preserve.has(key)) {
            return refuse(`${repr(name)} is both preserved (${where(preserve.get(key).line)}) and erased`);
        }
        if (erase.has(key)) {
            const first = erase.get(key);
            if (first.anchor !== anchor) {
                return refuse(`${repr(name)} is erased towards ${repr(first.anchor)} on ${where(first.line)} and `
                              + `towards ${repr(anchor)} here`);
            }
            warnings.push(`line ${number}: ${repr(name)} repeats ${where(first.line)}; merged`);
            return;
        }
        erase.set(key, { text: name, anchor, line: number });
    });
    if (!erase.size) refused.push({ line: null, text: null, reason: NOTHING_TO_ERASE });
    return { erase: [...erase.values()], preserve: [...preserve.values()], warnings, refused };
}

/** ConceptError's message for a refused entry: "line 3: 'text': reason". */
export function refusal(entry) {
    return entry.line === null ? entry.reason : `line ${entry.line}: ${repr(entry.text)}: ${entry.reason}`;
}

/**
 * The live summary shown on ScaPre Concept List: counts and names to erase and keep, anchors, merged duplicates,
 * refused lines. `parsed` is parseConcepts' result; `notes` are extra lines (settings applied only on the server).
 */
export function summaryText(parsed, notes = []) {
    const counted = (entries) => {
        const base = entries.filter((e) => e.line === null).length;
        return `${entries.length}` + (base ? ` (${base} from the preset)` : "");
    };
    const anchors = [...new Set(parsed.erase.map((c) => c.anchor).filter((a) => a !== BLANK_ANCHOR))];
    const lines = ["As typed (checked again when the prompt runs):"];
    lines.push(`erase ${counted(parsed.erase)}: ` + parsed.erase.map(conceptLine).join(", "));
    if (parsed.preserve.length) {
        lines.push(`keep ${counted(parsed.preserve)}: ` + parsed.preserve.map((p) => p.text).join(", "));
    }
    if (anchors.length) lines.push(`anchors ${anchors.length}: ` + anchors.join(", "));
    lines.push(...parsed.warnings.map((w) => `merged: ${w}`));
    lines.push(...parsed.refused.map((r) => `REFUSED ${refusal(r)}`));
    lines.push(...notes);
    return lines.join("\n");
}
