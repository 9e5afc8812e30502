import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, ConsoleApi, currentSession, signIn, type Session } from './api.js';
import { Keys, NewKeys, type Rotated } from './keys.js';
import { errorText, useLoad } from './parts.js';
import { Products } from './products.js';
import { InstalledOn, Origins, ScriptTag } from './setup.js';
import { languages, texts, type Language, type Texts } from './texts.js';
import { UsageCharts, type Usage } from './usage.js';
import { Webhooks } from './webhooks.js';

type Screen =
  | { readonly name: 'loading' }
  | { readonly name: 'signed-out'; readonly notice?: string }
  | { readonly name: 'signed-in'; readonly session: Session }
  | { readonly name: 'new-keys'; readonly keys: Rotated };

/** The merchant console: sign-in, then the dashboard; language from the browser, with a switch. */
export function App(props: { initialLanguage: Language }) {
  const [language, setLanguage] = useState<Language>(props.initialLanguage);
  const [screen, setScreen] = useState<Screen>({ name: 'loading' });
  const t = texts[language];

  useEffect(() => {
    document.documentElement.lang = language;
    document.title = t.title;
  }, [language]);

  // The stream ended (sign-out elsewhere, rotation, expiry): ask the server. New keys on screen stay
  // there: a rotation ends the session too, and the merchant has yet to copy the key.
  const recheck = (): void => {
    const unlessNewKeys = (next: Screen) => setScreen((current) => (current.name === 'new-keys' ? current : next));
    currentSession().then(
      (session) => unlessNewKeys(session ? { name: 'signed-in', session } : { name: 'signed-out', notice: t.sessionEnded }),
      (error: unknown) => unlessNewKeys({ name: 'signed-out', notice: errorText(error) }),
    );
  };
  useEffect(() => {
    currentSession().then(
      (session) => setScreen(session ? { name: 'signed-in', session } : { name: 'signed-out' }),
      (error: unknown) => setScreen({ name: 'signed-out', notice: errorText(error) }),
    );
  }, []);

  return (
    <div class="app">
      <header class="top">
        <h1>{t.title}</h1>
        {screen.name === 'signed-in' ? <span class="merchant">{screen.session.name}</span> : null}
        <div class="spacer" />
        <LanguageSwitch language={language} onChange={setLanguage} t={t} />
        {screen.name === 'signed-in' ? (
          <button
            type="button"
            class="secondary"
            onClick={() => {
              new ConsoleApi(screen.session.csrfToken).signOut().finally(() => setScreen({ name: 'signed-out' }));
            }}
          >
            {t.signOut}
          </button>
        ) : null}
      </header>
      {screen.name === 'loading' ? <p class="muted">…</p> : null}
      {screen.name === 'signed-out' ? <SignIn t={t} notice={screen.notice} onSignedIn={(session) => setScreen({ name: 'signed-in', session })} /> : null}
      {screen.name === 'signed-in' ? (
        <Dashboard t={t} session={screen.session} onEnded={recheck} onRotated={(keys) => setScreen({ name: 'new-keys', keys })} />
      ) : null}
      {screen.name === 'new-keys' ? <NewKeys t={t} keys={screen.keys} onDone={() => setScreen({ name: 'signed-out' })} /> : null}
    </div>
  );
}

function LanguageSwitch(props: { language: Language; onChange: (language: Language) => void; t: Texts }) {
  const names: Record<Language, string> = { en: 'English', ko: '한국어' };
  return (
    <div class="languages" role="group" aria-label={props.t.language}>
      {languages.map((language) => (
        <button
          key={language}
          type="button"
          lang={language}
          class={language === props.language ? 'chip on' : 'chip'}
          aria-pressed={language === props.language}
          onClick={() => props.onChange(language)}
        >
          {names[language]}
        </button>
      ))}
    </div>
  );
}

/** The key lives only in this form's field until the answer comes; the field is emptied either way. */
function SignIn(props: { t: Texts; notice: string | undefined; onSignedIn: (session: Session) => void }) {
  const { t } = props;
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const field = form.elements.namedItem('secretKey') as HTMLInputElement;
    const key = field.value.trim();
    field.value = '';
    setBusy(true);
    setFailure(undefined);
    try {
      props.onSignedIn(await signIn(key));
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : errorText(error));
    }
    setBusy(false);
  };
  return (
    <section class="panel sign-in">
      <h2>{t.signInTitle}</h2>
      <p class="help">{t.signInHelp}</p>
      {props.notice ? <p class="notice">{props.notice}</p> : null}
      <form onSubmit={(event) => void submit(event)} autocomplete="off">
        <label for="secret-key">{t.secretKey}</label>
        <input id="secret-key" name="secretKey" type="password" autocomplete="off" spellcheck={false} placeholder="sk_…" required />
        <button type="submit" disabled={busy}>{busy ? t.signingIn : t.signIn}</button>
      </form>
      {failure ? <p class="error" role="alert">{`${t.errorPrefix}: ${failure}`}</p> : null}
    </section>
  );
}

function Dashboard(props: { t: Texts; session: Session; onEnded: () => void; onRotated: (keys: Rotated) => void }) {
  const { t, session } = props;
  const api = useMemo(() => new ConsoleApi(session.csrfToken), [session.csrfToken]);
  const usage = useLoad(() => api.get<Usage>('/v1/merchant/usage?days=30'));
  const merchant = useLoad(() => api.get<{ allowedOrigins: string[] }>('/v1/merchant'));
  return (
    <div class="grid">
      <Products t={t} onEnded={props.onEnded} />
      <ScriptTag t={t} publishableKey={session.publishableKey} />
      <InstalledOn t={t} usage={usage} />
      <Origins t={t} api={api} merchant={merchant} />
      <Webhooks t={t} api={api} />
      <UsageCharts t={t} usage={usage} />
      <Keys t={t} api={api} onRotated={props.onRotated} />
    </div>
  );
}
