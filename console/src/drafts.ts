import { useEffect, useState, type Dispatch, type SetStateAction } from 'react';
import { useLocation } from 'react-router';

/**
 * What an agent typed into a form, kept across a 401: the API refused the token in the middle of a goodwill gesture,
 * a failure report or a feedback form, and after signing in again the agent finds the form as they left it (nothing
 * is sent again until they press its button). Memory only: the fields live in this module while the form is open, and
 * a 401 keeps them here (the in-page sign-in does not reload the page). They reach this tab's sessionStorage only for
 * the OpenID Connect round trip, written right before the page leaves for the identity provider and taken out again as
 * the console loads on its return (the callback). Never localStorage. Kept for 10 minutes from the 401 (checked at the
 * sign-in; a sign-in page left idle that long drops them too), and given back only to the session that left them
 * (session.tsx decides which sign-in continues it: with OpenID Connect the provider's sign-in of the same staff id, with
 * the development sign-in only "Continue as …" on that page) and to the same staff id: any other sign-in, or a
 * deliberate sign-out, drops them.
 */

const STORE_KEY = 'treue.console.drafts';
/** How long after the 401 a draft can still be given back. */
const KEEP_MS = 10 * 60_000;

interface Kept {
  staffId: string;
  fields: [string, unknown][];
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** The open forms' fields now: `<route>#<field>` → value. */
const live = new Map<string, unknown>();
/** The fields the last 401 kept, waiting for the next sign-in. */
let kept: Kept | undefined = takeFromRedirect();
/** Drops `kept` at its expiry: a sign-in page left idle. */
let expiry: ReturnType<typeof setTimeout> | undefined = kept ? dropAtExpiry(kept) : undefined;
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

/** At a 401: the open forms' fields, kept in memory for this staff member's next sign-in, for 10 minutes. */
export function keepDrafts(staffId: string): void {
  dropDrafts();
  if (live.size === 0) return;
  kept = { staffId, fields: [...live], expiresAt: Date.now() + KEEP_MS };
  expiry = dropAtExpiry(kept);
}

/** Right before the page leaves for the identity provider: the kept fields cross the redirect in sessionStorage. */
export function keepDraftsForRedirect(): void {
  if (kept) sessionStorage.setItem(STORE_KEY, JSON.stringify(kept));
}

/** The redirect did not happen (the identity provider could not be reached): nothing stays in sessionStorage. */
export function redirectFailed(): void {
  sessionStorage.removeItem(STORE_KEY);
}

/** At a sign-in: the fields kept for this staff member, if not expired, go back to their forms; anyone else's are dropped. */
export function restoreDrafts(staffId: string): void {
  const draft = kept;
  dropDrafts();
  if (draft && draft.staffId === staffId && Date.now() < draft.expiresAt) restored = new Map(draft.fields);
}

/** A deliberate sign-out (or another person's sign-in, or the expiry): nothing kept. */
export function dropDrafts(): void {
  sessionStorage.removeItem(STORE_KEY);
  clearTimeout(expiry);
  expiry = undefined;
  kept = undefined;
  restored = new Map();
}

function dropAtExpiry(draft: Kept): ReturnType<typeof setTimeout> {
  return setTimeout(dropDrafts, Math.max(0, draft.expiresAt - Date.now()));
}

/**
 * As the console loads: sessionStorage is emptied whatever the route, and what it held is kept only on the OpenID
 * Connect callback (the return from the identity provider), if well-formed and not expired.
 */
function takeFromRedirect(): Kept | undefined {
  const stored = sessionStorage.getItem(STORE_KEY);
  if (stored === null) return undefined;
  sessionStorage.removeItem(STORE_KEY);
  if (location.pathname !== '/console/callback') return undefined;
  try {
    const draft = JSON.parse(stored) as Partial<Kept>;
    if (typeof draft.staffId !== 'string' || !Array.isArray(draft.fields) || typeof draft.expiresAt !== 'number') return undefined;
    if (Date.now() >= draft.expiresAt) return undefined;
    return { staffId: draft.staffId, fields: draft.fields, expiresAt: draft.expiresAt };
  } catch {
    // Not ours to read: dropped.
    return undefined;
  }
}
