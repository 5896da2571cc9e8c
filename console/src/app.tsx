import { lazy, Suspense, useMemo, useState, type ReactNode } from 'react';
import { BrowserRouter, Link, Navigate, NavLink, Route, Routes } from 'react-router';
import { Provider } from 'urql';
import { createApiClient } from './client';
import { LOCALES, useI18n, type Locale } from './i18n';
import { ApiKeysPage } from './pages/api-keys';
import { CaseFeedbackPage } from './pages/case-feedback';
import { GoodwillPage } from './pages/goodwill';
import { IncidentPage } from './pages/incident';
import { MemberPage } from './pages/member';
import { ProgramPage } from './pages/program';
import { QueuePage } from './pages/queue';
import { ReportFailurePage } from './pages/report-failure';
import { SaveDeskPage } from './pages/save-desk';
import { SearchPage } from './pages/search';
import { OidcCallback, SignInPage } from './pages/sign-in';
import { WebhookEndpointPage, WebhooksPage } from './pages/webhooks';
import { can, useSession, useSignedIn, type StaffRole } from './session';
import { UserText } from './user-text';

// Charts are large: the dashboard and its chart library load only when it is opened.
const DashboardPage = lazy(() => import('./pages/dashboard'));

export function App() {
  const { session, signOut } = useSession();
  // A 401 (the token expired or was revoked) signs out and the sign-in page says why: the form the agent was filling
  // is gone with the page, and what it would have sent was refused, so nothing of it happened.
  const client = useMemo(() => (session ? createApiClient(session.token, () => signOut('expired')) : undefined), [session, signOut]);
  return (
    <BrowserRouter basename="/console">
      {session && client ? (
        <Provider value={client}>
          <Shell>
            <Routes>
              <Route path="/" element={<SearchPage />} />
              <Route path="/members/:id" element={<MemberPage />} />
              <Route path="/members/:id/goodwill" element={<GoodwillPage />} />
              <Route path="/members/:id/failure" element={<ReportFailurePage />} />
              <Route path="/members/:id/case" element={<CaseFeedbackPage />} />
              <Route path="/save-desk" element={<SaveDeskPage />} />
              <Route path="/incidents" element={<IncidentPage />} />
              <Route path="/admin/api-keys" element={<Allowed when={can.administer}>{<ApiKeysPage />}</Allowed>} />
              <Route path="/admin/webhooks" element={<Allowed when={can.administer}>{<WebhooksPage />}</Allowed>} />
              <Route path="/admin/webhooks/:id" element={<Allowed when={can.administer}>{<WebhookEndpointPage />}</Allowed>} />
              <Route path="/admin/program" element={<Allowed when={can.administer}>{<ProgramPage />}</Allowed>} />
              <Route path="/queue" element={<Allowed when={can.decide}>{<QueuePage />}</Allowed>} />
              <Route
                path="/dashboard"
                element={
                  <Allowed when={can.viewMetrics}>
                    <Suspense fallback={<Loading />}>
                      <DashboardPage />
                    </Suspense>
                  </Allowed>
                }
              />
              <Route path="/callback" element={<Navigate to="/" replace />} />
              <Route path="*" element={<NotFound />} />
            </Routes>
          </Shell>
        </Provider>
      ) : (
        <Routes>
          <Route path="/callback" element={<OidcCallback />} />
          <Route path="*" element={<SignInPage />} />
        </Routes>
      )}
    </BrowserRouter>
  );
}

function Shell({ children }: { children: ReactNode }) {
  const { t, tx } = useI18n();
  const session = useSignedIn();
  const { signOut } = useSession();
  return (
    <>
      <a className="skip-link" href="#main">
        {t('shell.skipToContent')}
      </a>
      <header className="shell-header">
        <Link to="/" className="brand">
          {t('shell.brand')}
        </Link>
        <nav aria-label={t('shell.navigation')} className="shell-nav">
          <NavLink to="/" end>
            {t('nav.search')}
          </NavLink>
          <NavLink to="/save-desk">{t('nav.saveDesk')}</NavLink>
          <NavLink to="/incidents">{t('nav.incidents')}</NavLink>
          {can.decide(session.role) && <NavLink to="/queue">{t('nav.queue')}</NavLink>}
          {can.viewMetrics(session.role) && <NavLink to="/dashboard">{t('nav.dashboard')}</NavLink>}
          {can.administer(session.role) && <NavLink to="/admin/api-keys">{t('nav.apiKeys')}</NavLink>}
          {can.administer(session.role) && <NavLink to="/admin/webhooks">{t('nav.webhooks')}</NavLink>}
          {can.administer(session.role) && <NavLink to="/admin/program">{t('nav.program')}</NavLink>}
          {can.administer(session.role) && <QueuesLink token={session.token} />}
        </nav>
        <div className="shell-user">
          <LanguageSwitch />
          <span className="who" data-testid="signed-in-as">
            {tx('shell.signedInAs', { name: <UserText>{session.name}</UserText>, role: t(`role.${session.role}`) })}
          </span>
          <button type="button" className="button-quiet" onClick={() => signOut()}>
            {t('shell.signOut')}
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

/**
 * The queue dashboard (/admin/queues, served by the API, not a console page): a browser cannot send the token
 * when it opens a page, so the console first trades it for the board's short session cookie, then goes there.
 */
function QueuesLink({ token }: { token: string }) {
  const { t } = useI18n();
  const [failed, setFailed] = useState<number | undefined>();
  const open = async () => {
    const response = await fetch('/admin/queues/session', { method: 'POST', headers: { authorization: `Bearer ${token}` } }).catch(
      () => undefined,
    );
    if (response?.ok) window.location.assign('/admin/queues');
    else setFailed(response?.status ?? 0);
  };
  return (
    <>
      <button type="button" className="button-quiet" onClick={() => void open()}>
        {t('nav.queues')}
      </button>
      {failed !== undefined && <span role="alert">{t('nav.queuesFailed', { status: failed })}</span>}
    </>
  );
}

export function LanguageSwitch() {
  const { t, locale, setLocale } = useI18n();
  return (
    <label className="language">
      <span className="visually-hidden">{t('shell.language')}</span>
      <select value={locale} onChange={(event) => setLocale(event.target.value as Locale)}>
        {LOCALES.map((option) => (
          <option key={option} value={option}>
            {t(`language.${option}`)}
          </option>
        ))}
      </select>
    </label>
  );
}

function Allowed({ when, children }: { when: (role: StaffRole) => boolean; children: ReactNode }) {
  const { t } = useI18n();
  const session = useSignedIn();
  if (!when(session.role)) {
    return (
      <section className="page">
        <h1>{t('forbidden.title')}</h1>
        <p role="alert">{t('forbidden.body', { role: t(`role.${session.role}`) })}</p>
      </section>
    );
  }
  return children;
}

function NotFound() {
  const { t } = useI18n();
  return (
    <section className="page">
      <h1>{t('notFound.title')}</h1>
      <p>
        <Link to="/">{t('notFound.back')}</Link>
      </p>
    </section>
  );
}

export function Loading() {
  const { t } = useI18n();
  return (
    <p className="loading" role="status">
      {t('common.loading')}
    </p>
  );
}
