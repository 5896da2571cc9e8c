/**
 * Text the console did not write — a member's name, an e-mail address, a reference, a note, a SKU, a category,
 * an API key's name, a webhook's URL, an error the API or a receiver answered — is shown in a bidirectional
 * isolate. The API refuses the bidirectional controls in what names something (docs/domain-rules.md, "Text"),
 * but rows stored before it did, or written by SQL, can still hold them: a name "\u202Egnp.exe" (U+202E
 * RIGHT-TO-LEFT OVERRIDE) shows as "exe.png" and, unisolated, reverses everything after it on the line (the
 * queue's "\u202Egnp.exe — €40.00" shows as "00.04€ — exe.png"). Isolated, its direction comes from its own first
 * strong letter (a Hebrew name reads right to left), and nothing inside it can reorder the text around it.
 *
 * Every such string the console shows goes through one of these two: `UserText` where it is an element's
 * content (inside a sentence of the catalogue through `tx`), `isolated` where it goes into a plain string: an
 * attribute (an aria-label, an aria-valuetext, a title, a placeholder), an option's text, a confirmation dialog.
 * An attribute is shown (a tooltip) or read out (an accessible name) as one piece of text, laid out, or shown on a
 * braille display or a screen reader's speech viewer, by the bidirectional algorithm like any other. A text field
 * that can hold such a string has dir="auto", so that a Hebrew or Arabic value is laid out right to left.
 */

/** A user's string as an element's content: in a `<bdi>` (unicode-bidi: isolate, direction from its content). */
export function UserText({ children, className }: { children: string | null | undefined; className?: string }) {
  if (children === null || children === undefined) return null;
  return <bdi className={className}>{contained(children)}</bdi>;
}

const FIRST_STRONG_ISOLATE = '\u2068';
const POP_DIRECTIONAL_ISOLATE = '\u2069';
const POP_DIRECTIONAL_FORMATTING = '\u202C';

/**
 * A user's string inside a plain string, where no element can go (an attribute, `window.confirm`): between
 * FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE, the characters that do what `<bdi>` does, and with every
 * control in it closed by its own closer (`contained`).
 */
export function isolated(value: string): string {
  return `${FIRST_STRONG_ISOLATE}${contained(value)}${POP_DIRECTIONAL_ISOLATE}`;
}

/** The characters by which a string could reach outside the isolate it is shown in (see `contained`). */
// eslint-disable-next-line no-control-regex
const ESCAPES = /[\n\r\u001c-\u001e\u0085\u2029\u202a-\u202e\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex
const PARAGRAPH_SEPARATOR = /[\n\r\u001c-\u001e\u0085\u2029]/;
/** LEFT-TO-RIGHT and RIGHT-TO-LEFT EMBEDDING and OVERRIDE: closed by POP DIRECTIONAL FORMATTING. */
const EMBEDDING_OR_OVERRIDE = /[\u202a\u202b\u202d\u202e]/;
/** LEFT-TO-RIGHT, RIGHT-TO-LEFT and FIRST STRONG ISOLATE: closed by POP DIRECTIONAL ISOLATE. */
const ISOLATE_INITIATOR = /[\u2066-\u2068]/;

/**
 * `value` with nothing that reaches outside the isolate around it. Chromium isolates an element by putting
 * isolate characters around its text, so within it an unmatched POP DIRECTIONAL ISOLATE (U+2069) closes the
 * element's own isolate ("\u2069\u202Egnp.exe" in a `<bdi>` still reverses the rest of the line), and a
 * paragraph separator (bidirectional class B: U+2029, NEL, U+001C–U+001E, a line break) ends every isolate.
 * So a closer that closes nothing (U+2069, or U+202C where no embedding or override is open inside the
 * innermost isolate) is left out, every control the string leaves open is closed where the isolate around it
 * would close it, by its own closer (U+202C for U+202A–U+202E, U+2069 for U+2066–U+2068), and a paragraph
 * separator is shown as a space. The closers change nothing where the isolates are known (their U+2069 ends
 * the embeddings inside them too); where they are not (text laid out by rules older than Unicode 6.3, which
 * ignore U+2066–U+2069), an override still ends with the string instead of reversing the text after it.
 */
function contained(value: string): string {
  if (!ESCAPES.test(value)) return value;
  let text = '';
  // The closer each control still open waits for, innermost last.
  const open: string[] = [];
  const closeEmbeddings = () => {
    while (open.at(-1) === POP_DIRECTIONAL_FORMATTING) text += open.pop();
  };
  for (const character of value) {
    if (PARAGRAPH_SEPARATOR.test(character)) text += ' ';
    else if (character === POP_DIRECTIONAL_ISOLATE) {
      if (!open.includes(POP_DIRECTIONAL_ISOLATE)) continue;
      closeEmbeddings();
      text += open.pop();
    } else if (character === POP_DIRECTIONAL_FORMATTING) {
      if (open.at(-1) !== POP_DIRECTIONAL_FORMATTING) continue;
      text += open.pop();
    } else {
      if (EMBEDDING_OR_OVERRIDE.test(character)) open.push(POP_DIRECTIONAL_FORMATTING);
      else if (ISOLATE_INITIATOR.test(character)) open.push(POP_DIRECTIONAL_ISOLATE);
      text += character;
    }
  }
  while (open.length > 0) text += open.pop();
  return text;
}
