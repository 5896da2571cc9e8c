import { useEffect, useState, type Dispatch, type SetStateAction } from 'react';
import { useLocation } from 'react-router';

/**
 * What an agent typed into a form, kept across a 401: the API refused the token in the middle of a goodwill gesture,
 * a failure report or a feedback form, and after signing in again the agent finds the form as they left it (nothing
 * is sent again until they press its button). The fields live in memory while the form is open; only at a 401 are
 * they written to this tab's sessionStorage (an OpenID Connect sign-in leaves the page and comes back), and the next
 * sign-in takes them out again at once: for the same staff member they go back into their forms, anyone else's are
 * dropped. Never localStorage: a member's data does not outlive the tab. A deliberate sign-out drops them.
 */

const STORE_KEY = 'treue.console.drafts';

/** The open forms' fields now: `<route>#<field>` → value. */
const live = new Map<string, unknown>();
/** The fields given back by the last sign-in, each taken by its form as it opens. */
let restored = new Map<string, unknown>();

/** `useState` for a form's field whose value a 401 does not lose; `name` is unique within the page. */
export function useDraft<T>(name: string, initial: T | (() => T)): [T, Dispatch<SetStateAction<T>>] {
  const key = `${useLocation().pathname}#${name}`;
  const [value, setValue] = useState<T>(() =>
    restored.has(key) ? (restored.get(key) as T) : typeof initial === 'function' ? (initial as () => T)() : initial,
  );
  // Given back once: a later visit to the page starts empty.
  useEffect(() => void restored.delete(key), [key]);
  useEffect(() => {
    live.set(key, value);
    return () => void live.delete(key);
  }, [key, value]);
  return [value, setValue];
}

/** At a 401: the open forms' fields, kept for this staff member's next sign-in in this tab. */
export function keepDrafts(staffId: string): void {
  if (live.size === 0) return;
  sessionStorage.setItem(STORE_KEY, JSON.stringify({ staffId, fields: [...live] }));
}

/** At a sign-in: the fields kept for this staff member go back to their forms; nothing stays in sessionStorage. */
export function restoreDrafts(staffId: string): void {
  const kept = sessionStorage.getItem(STORE_KEY);
  dropDrafts();
  if (!kept) return;
  try {
    const draft = JSON.parse(kept) as { staffId?: unknown; fields?: unknown };
    if (draft.staffId === staffId && Array.isArray(draft.fields)) restored = new Map(draft.fields as [string, unknown][]);
  } catch {
    // Not ours to read: dropped.
  }
}

/** A deliberate sign-out (or another person's sign-in): nothing kept. */
export function dropDrafts(): void {
  sessionStorage.removeItem(STORE_KEY);
  restored = new Map();
}
