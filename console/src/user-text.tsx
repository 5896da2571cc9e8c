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
 * content (inside a sentence of the catalogue through `tx`), `isolated` where it is shown in a plain string
 * (a confirmation dialog). Not in an aria-label: that is read, not shown, in the string's own logical order,
 * and isolate characters there would become part of the button's accessible name.
 */

/** A user's string as an element's content: in a `<bdi>` (unicode-bidi: isolate, direction from its content). */
export function UserText({ children, className }: { children: string | null | undefined; className?: string }) {
  if (children === null || children === undefined) return null;
  return <bdi className={className}>{contained(children)}</bdi>;
}

const FIRST_STRONG_ISOLATE = '\u2068';
const POP_DIRECTIONAL_ISOLATE = '\u2069';

/**
 * A user's string inside a plain string that is shown (`window.confirm`), where no element can go: between
 * FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE, the characters that do what `<bdi>` does.
 */
export function isolated(value: string): string {
  return `${FIRST_STRONG_ISOLATE}${contained(value)}${POP_DIRECTIONAL_ISOLATE}`;
}

/** The characters by which a string could reach outside the isolate it is shown in (see `contained`). */
// eslint-disable-next-line no-control-regex
const ESCAPES = /[\n\r\u001c-\u001e\u0085\u2029\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex
const PARAGRAPH_SEPARATOR = /[\n\r\u001c-\u001e\u0085\u2029]/;

/**
 * `value` with nothing that reaches outside the isolate around it. Chromium isolates an element by putting
 * isolate characters around its text, so within it an unmatched POP DIRECTIONAL ISOLATE (U+2069) closes the
 * element's own isolate ("\u2069\u202Egnp.exe" in a `<bdi>` still reverses the rest of the line), and a
 * paragraph separator (bidirectional class B: U+2029, NEL, U+001C–U+001E, a line break) ends every isolate.
 * So an unmatched PDI is left out, an isolate the string leaves open is closed at its end, and a paragraph
 * separator is shown as a space. Embeddings and overrides inside need nothing: a balanced isolate ends them.
 */
function contained(value: string): string {
  if (!ESCAPES.test(value)) return value;
  let text = '';
  let open = 0;
  for (const character of value) {
    if (PARAGRAPH_SEPARATOR.test(character)) text += ' ';
    else if (character === POP_DIRECTIONAL_ISOLATE) {
      if (open === 0) continue;
      open -= 1;
      text += character;
    } else {
      if (character >= '\u2066' && character <= '\u2068') open += 1;
      text += character;
    }
  }
  return text + POP_DIRECTIONAL_ISOLATE.repeat(open);
}
