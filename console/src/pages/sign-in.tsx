import { useEffect, useState } from 'react';
import { useLocation, useNavigate } from 'react-router';
import { LanguageSwitch } from '../app';
import { keepDraftsForRedirect, redirectFailed } from '../drafts';
import { useI18n } from '../i18n';
import { UserText } from '../user-text';
import { oidcManager, sessionFromToken, useSession, type StaffRole } from '../session';
import { EnumSelect } from './parts';

const ROLES: StaffRole[] = ['AGENT', 'SUPERVISOR', 'ADMIN'];

/**
 * Production: OpenID Connect (authorization code + PKCE) against the identity provider whose JWKS the API
 * trusts. Development: a role and a name, and the service signs a token with its local secret
 * (/console/dev-token, which does not exist in production).
 */
export function SignInPage() {
  const { t, tx } = useI18n();
  const { signInConfig, signIn, ended, resumable } = useSession();
  // The page the agent was on (a 401 keeps the URL): the identity provider sends them back to it, where a form the 401
  // interrupted opens as they left it (drafts.ts).
  const { pathname, search } = useLocation();
  const [role, setRole] = useState<StaffRole>('AGENT');
  const [name, setName] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  /** A token for this role and name; `resume`: the session the 401 ended continues, with its drafts (session.tsx). */
  const signInDevelopment = async (as: { role: StaffRole; name: string }, resume?: 'resume') => {
    setBusy(true);
    setError(undefined);
    try {
      const response = await fetch('/console/dev-token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(as),
      });
      const body = (await response.json().catch(() => ({}))) as { token?: string };
      if (!response.ok || !body.token || !sessionFromToken(body.token)) {
        setError(t('signIn.failed'));
        return;
      }
      signIn(body.token, resume);
    } catch {
      setError(t('signIn.failed'));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="sign-in">
      <div className="card sign-in-card">
        <div className="sign-in-top">
          <h1>{t('signIn.title')}</h1>
          <LanguageSwitch />
        </div>
        <p>{t('signIn.intro')}</p>
        {ended === 'expired' && (
          <p className="error" role="alert" data-testid="session-ended">
            {t('signIn.expired')}
          </p>
        )}
        {signInConfig.kind === 'oidc' && (
          <button
            type="button"
            className="button-primary"
            onClick={() =>
              void oidcManager(signInConfig)
                .then((m) => {
                  // The page is left: a form the 401 interrupted crosses the redirect in sessionStorage (drafts.ts).
                  keepDraftsForRedirect();
                  return m.signinRedirect({ state: { returnTo: `${pathname}${search}` } });
                })
                .catch(redirectFailed)
            }
          >
            {t('signIn.withProvider')}
          </button>
        )}
        {signInConfig.kind === 'development' && resumable && (
          <div className="form">
            <button
              type="button"
              className="button-primary"
              data-testid="continue-session"
              disabled={busy}
              onClick={() => void signInDevelopment({ role: resumable.role, name: resumable.staffId }, 'resume')}
            >
              {tx('signIn.continueAs', { name: <UserText>{resumable.staffId}</UserText>, role: t(`role.${resumable.role}`) })}
            </button>
            <p className="hint">{t('signIn.continueHint')}</p>
          </div>
        )}
        {signInConfig.kind === 'development' && (
          <form
            onSubmit={(event) => {
              event.preventDefault();
              void signInDevelopment({ role, name });
            }}
            className="form"
          >
            <p className="hint">{t('signIn.developmentHint')}</p>
            <EnumSelect label={t('signIn.role')} prefix="role" options={ROLES} value={role} onChange={setRole} />
            <label className="field">
              <span>{t('signIn.name')}</span>
              <input
                dir="auto"
                value={name}
                onChange={(event) => setName(event.target.value)}
                required
                maxLength={64}
                autoComplete="username"
              />
            </label>
            {error && (
              <p className="error" role="alert">
                {error}
              </p>
            )}
            <button type="submit" className="button-primary" disabled={busy}>
              {t('signIn.submit')}
            </button>
          </form>
        )}
        {signInConfig.kind === 'none' && <p role="alert">{t('signIn.unavailable')}</p>}
      </div>
    </main>
  );
}

/** Where the identity provider sends the browser back with the authorization code. */
export function OidcCallback() {
  const { t } = useI18n();
  const { signInConfig, signIn } = useSession();
  const navigate = useNavigate();
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    if (signInConfig.kind !== 'oidc') return;
    void oidcManager(signInConfig)
      .then((manager) => manager.signinRedirectCallback())
      .then((user) => {
        navigate(returnRoute(user.state), { replace: true });
        signIn(user.access_token);
      })
      .catch(() => setFailed(true));
  }, [signInConfig, signIn, navigate]);
  return (
    <main id="main" className="sign-in">
      <p role="status">{failed ? t('signIn.failed') : t('common.loading')}</p>
    </main>
  );
}

/** The console route a sign-in started from (`signinRedirect`'s state), or the search page: never another origin. */
function returnRoute(state: unknown): string {
  const returnTo = (state as { returnTo?: unknown } | null | undefined)?.returnTo;
  if (typeof returnTo !== 'string' || !returnTo.startsWith('/') || returnTo.startsWith('//') || returnTo.startsWith('/callback')) {
    return '/';
  }
  return returnTo;
}
