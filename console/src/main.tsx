import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app';
import { I18nProvider } from './i18n';
import { SessionProvider, type SignInConfig } from './session';
import './styles.css';

// How to sign in comes from the service (/console/config.json), so one build serves every environment.
const response = await fetch('/console/config.json', { cache: 'no-cache' });
const { signIn } = (await response.json()) as { signIn: SignInConfig };

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <I18nProvider>
      <SessionProvider signInConfig={signIn}>
        <App />
      </SessionProvider>
    </I18nProvider>
  </StrictMode>,
);
