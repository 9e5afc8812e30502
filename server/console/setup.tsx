import { useState } from 'preact/hooks';
import { ApiError, type ConsoleApi } from './api.js';
import { CopyButton, errorText, LoadState, Panel, type Loaded } from './parts.js';
import type { Texts } from './texts.js';
import type { Usage } from './usage.js';

/** The tag to paste, with the key of the signed-in merchant and this server's address. */
export function ScriptTag(props: { t: Texts; publishableKey: string }) {
  const tag = `<script src="${location.origin}/widget.js" data-key="${props.publishableKey}" async></script>`;
  return (
    <Panel title={props.t.scriptTag} help={props.t.scriptTagHelp} id="script-tag">
      <pre class="code" data-testid="script-tag">{tag}</pre>
      <CopyButton text={tag} t={props.t} />
    </Panel>
  );
}

/** Origins whose pages opened sockets recently (the usage answer's `installedOn`). */
export function InstalledOn(props: { t: Texts; usage: Loaded<Usage> }) {
  const { t, usage } = props;
  return (
    <Panel title={t.installedOn} help={t.installedOnHelp} id="installed-on">
      <LoadState loaded={usage} t={t} missing={t.usageUnavailable} />
      {usage.state === 'ready' ? (
        usage.value.installedOn.length === 0 ? (
          <p class="muted">{t.notInstalled}</p>
        ) : (
          <ul class="plain">
            {usage.value.installedOn.map((site) => (
              <li key={site.origin}>
                <code>{site.origin}</code> <span class="muted">{`${t.lastSeen} ${new Date(site.lastSeenAt).toLocaleString()}`}</span>
              </li>
            ))}
          </ul>
        )
      ) : null}
    </Panel>
  );
}

interface MerchantSettings {
  readonly allowedOrigins: readonly string[];
}

/** The merchant's allowed origins, edited here and saved in one PATCH /v1/merchant. */
export function Origins(props: { t: Texts; api: ConsoleApi; merchant: Loaded<MerchantSettings> }) {
  const { t } = props;
  if (props.merchant.state !== 'ready') {
    return (
      <Panel title={t.origins} help={t.originsHelp} id="origins">
        <LoadState loaded={props.merchant} t={t} />
      </Panel>
    );
  }
  return <OriginsEditor t={t} api={props.api} initial={props.merchant.value.allowedOrigins} />;
}

function OriginsEditor(props: { t: Texts; api: ConsoleApi; initial: readonly string[] }) {
  const { t } = props;
  const [origins, setOrigins] = useState<readonly string[]>(props.initial);
  const [draft, setDraft] = useState('');
  const [saved, setSaved] = useState<readonly string[]>(props.initial);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | undefined>(undefined);

  const add = (event: Event): void => {
    event.preventDefault();
    const origin = draft.trim().replace(/\/+$/, '');
    if (origin !== '' && !origins.includes(origin)) setOrigins([...origins, origin]);
    setDraft('');
  };
  const save = async (): Promise<void> => {
    setMessage(undefined);
    try {
      const answer = await props.api.send<MerchantSettings>('PATCH', '/v1/merchant', { allowedOrigins: origins });
      setOrigins(answer.allowedOrigins);
      setSaved(answer.allowedOrigins);
      setMessage({ kind: 'ok', text: t.saved });
    } catch (error) {
      setMessage({ kind: 'error', text: error instanceof ApiError ? `${t.errorPrefix}: ${error.message}` : errorText(error) });
    }
  };
  const changed = origins.join('\n') !== saved.join('\n');

  return (
    <Panel title={t.origins} help={t.originsHelp} id="origins">
      {origins.length === 0 ? <p class="muted">{t.anyOrigin}</p> : null}
      <ul class="plain origins">
        {origins.map((origin) => (
          <li key={origin}>
            <code>{origin}</code>
            <button type="button" class="link" aria-label={`${t.remove} ${origin}`} onClick={() => setOrigins(origins.filter((o) => o !== origin))}>
              {t.remove}
            </button>
          </li>
        ))}
      </ul>
      <form class="row" onSubmit={add}>
        <input
          type="url"
          name="origin"
          placeholder="https://shop.example"
          aria-label={t.origins}
          value={draft}
          onInput={(event) => setDraft((event.target as HTMLInputElement).value)}
        />
        <button type="submit" class="secondary">{t.addOrigin}</button>
      </form>
      <div class="row">
        <button type="button" disabled={!changed} onClick={() => void save()}>{t.save}</button>
        {message ? <span class={message.kind === 'ok' ? 'ok' : 'error'} role="status">{message.text}</span> : null}
      </div>
    </Panel>
  );
}
