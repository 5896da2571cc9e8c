import { createContext, useContext, useMemo, useState, type ReactNode } from 'react';
import type { UserManager } from 'oidc-client-ts';
import { dropDrafts, keepDrafts, restoreDrafts } from './drafts';

/**
 * Who is signed in. The token lives in memory only (this module's state): nothing secret goes to
 * localStorage or sessionStorage, so a reload signs out (with OpenID Connect the identity provider's own
 * session brings the agent straight back). The role, staff id and name are read from the token's claims for
 * the page's sake only; the API checks the token on every request.
 */
export type StaffRole = 'AGENT' | 'SUPERVISOR' | 'ADMIN';

export interface Session {
  token: string;
  role: StaffRole;
  /** The token's `sub`: the staff id the API acts as and records (a gesture's `agentId`), whatever the display name. */
  staffId: string;
  name: string;
}

export type SignInConfig = { kind: 'oidc'; issuer: string; clientId: string; scope: string } | { kind: 'development' } | { kind: 'none' };

interface SessionState {
  session: Session | undefined;
  signInConfig: SignInConfig;
  /** Why the last session ended when the agent did not end it: the API refused its token (401, expired or revoked). */
  ended: 'expired' | undefined;
  /**
   * With the development sign-in, after a 401: the session that ended (its role and staff id), which the sign-in page
   * offers to continue. Memory only, like the token; gone at the next sign-in or a deliberate sign-out.
   */
  resumable: { role: StaffRole; staffId: string } | undefined;
  /**
   * `resume`: the development sign-in continues the session the 401 ended ("Continue as …" on the sign-in page), and
   * the drafts it left open as they were. Any other development sign-in drops them, even under the same name.
   */
  signIn(token: string, resume?: 'resume'): void;
  /**
   * `expired`: the API refused the token; the sign-in page says so, and that what was not saved was not sent. The
   * open forms' fields are kept for the session's continuation (drafts.ts).
   */
  signOut(reason?: 'expired'): void;
}

const SessionContext = createContext<SessionState | undefined>(undefined);

/** The claims the console uses (role, staff id, name); undefined when the token is not a staff JWT. */
export function sessionFromToken(token: string): Session | undefined {
  try {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
    const role = payload.role;
    // The API refuses a staff token without a `sub` (src/auth/jwt.ts): so does the console.
    if ((role !== 'AGENT' && role !== 'SUPERVISOR' && role !== 'ADMIN') || typeof payload.sub !== 'string' || payload.sub === '')
      return undefined;
    const staffId = payload.sub;
    const name = typeof payload.name === 'string' ? payload.name : staffId;
    return { token, role, staffId, name };
  } catch {
    return undefined;
  }
}

export function SessionProvider({ children, signInConfig }: { children: ReactNode; signInConfig: SignInConfig }) {
  const [session, setSession] = useState<Session | undefined>(undefined);
  const [ended, setEnded] = useState<'expired' | undefined>(undefined);
  const [resumable, setResumable] = useState<SessionState['resumable']>(undefined);
  const state = useMemo<SessionState>(
    () => ({
      session,
      signInConfig,
      ended,
      resumable,
      signIn: (token, resume) => {
        const next = sessionFromToken(token);
        // Before the pages mount: a form the last 401 interrupted opens as the agent left it (drafts.ts), for the session
        // that left it only. With OpenID Connect, the provider's sign-in of the same staff id: it authenticated them.
        // The development sign-in authenticates nobody (the staff id is the name typed, anyone's), so only the
        // continuation the sign-in page offers after the 401 gets them back; a name typed, even the same, drops them.
        if (next && (signInConfig.kind === 'oidc' || resume === 'resume')) restoreDrafts(next.staffId);
        else dropDrafts();
        setEnded(undefined);
        setResumable(undefined);
        setSession(next);
      },
      signOut: (reason) => {
        // While the pages are still open: a 401 keeps what the agent typed for the session's continuation (drafts.ts).
        if (reason === 'expired' && session) keepDrafts(session.staffId);
        else dropDrafts();
        setResumable(
          reason === 'expired' && session && signInConfig.kind === 'development'
            ? { role: session.role, staffId: session.staffId }
            : undefined,
        );
        // The queue board's session cookie (HttpOnly: only the API can clear it) ends with the console's, so the
        // next person at a shared desk cannot open /admin/queues. The sign-in page shows once the API answered,
        // or failed to within 2 s: a failure does not keep anyone signed in.
        void endQueueBoardSession().then(() => {
          setEnded(reason);
          setSession(undefined);
        });
        if (signInConfig.kind === 'oidc') void oidcManager(signInConfig).then((manager) => manager.removeUser());
      },
    }),
    [session, signInConfig, ended, resumable],
  );
  return <SessionContext.Provider value={state}>{children}</SessionContext.Provider>;
}

/** DELETE /admin/queues/session: clears the board's cookie; idempotent, needs no token. Never rejects. */
function endQueueBoardSession(): Promise<void> {
  return fetch('/admin/queues/session', { method: 'DELETE', signal: AbortSignal.timeout(2_000) }).then(
    () => undefined,
    () => undefined,
  );
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSession outside SessionProvider');
  return state;
}

export function useSignedIn(): Session {
  const { session } = useSession();
  if (!session) throw new Error('not signed in');
  return session;
}

export const can = {
  decide: (role: StaffRole) => role === 'SUPERVISOR' || role === 'ADMIN',
  viewMetrics: (role: StaffRole) => role === 'SUPERVISOR' || role === 'ADMIN',
  administer: (role: StaffRole) => role === 'ADMIN',
};

let manager: Promise<UserManager> | undefined;

/**
 * oidc-client-ts, loaded only when OpenID Connect is configured: authorization code with PKCE. Tokens are
 * kept in memory (InMemoryWebStorage); only the short-lived state of a sign-in in flight (state, PKCE
 * verifier) crosses the redirect in sessionStorage, as the library needs, and is removed when it returns.
 */
export function oidcManager(config: Extract<SignInConfig, { kind: 'oidc' }>): Promise<UserManager> {
  manager ??= import('oidc-client-ts').then(
    ({ UserManager, WebStorageStateStore, InMemoryWebStorage }) =>
      new UserManager({
        authority: config.issuer,
        client_id: config.clientId,
        scope: config.scope,
        redirect_uri: `${location.origin}/console/callback`,
        post_logout_redirect_uri: `${location.origin}/console/`,
        response_type: 'code',
        userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
        automaticSilentRenew: false,
      }),
  );
  return manager;
}
