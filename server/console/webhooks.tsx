import { useState } from 'preact/hooks';
import { stockEventTypes, type StockEventType } from '../stock/stock-events.js';
import { ApiError, type ConsoleApi } from './api.js';
import { Confirm } from './confirm.js';
import { CopyButton, errorText, LoadState, Panel, useLoad } from './parts.js';
import type { Texts } from './texts.js';

interface Webhook {
  readonly id: string;
  readonly url: string;
  readonly events: readonly string[];
  readonly disabled: boolean;
}

interface Delivery {
  readonly id: string;
  readonly type: string;
  readonly sku: string;
  readonly attempt: number;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly at: string;
  readonly state: string;
}

/** The merchant's webhooks: add one (its signing secret shown once), delete one, and each one's recent deliveries on demand. */
export function Webhooks(props: { t: Texts; api: ConsoleApi }) {
  const { t, api } = props;
  const [reload, setReload] = useState(0);
  const [created, setCreated] = useState<Created | undefined>(undefined);
  const webhooks = useLoad(() => api.get<{ items: Webhook[] }>('/v1/webhooks'), reload);
  const changed = (): void => setReload((n) => n + 1);
  return (
    <Panel title={t.webhooks} help={t.webhooksHelp} id="webhooks">
      <LoadState loaded={webhooks} t={t} />
      {webhooks.state === 'ready' ? (
        webhooks.value.items.length === 0 ? (
          <p class="muted">{t.noWebhooks}</p>
        ) : (
          <ul class="plain">
            {webhooks.value.items.map((hook) => (
              <WebhookItem key={hook.id} hook={hook} t={t} api={api} onDeleted={changed} />
            ))}
          </ul>
        )
      ) : null}
      {created ? (
        <NewSecret t={t} created={created} onDone={() => setCreated(undefined)} />
      ) : (
        <AddWebhook
          t={t}
          api={api}
          onCreated={(hook) => {
            setCreated(hook);
            changed();
          }}
        />
      )}
    </Panel>
  );
}

/** What `POST /v1/webhooks` answers: the webhook with its signing secret, the only time it is shown. */
interface Created extends Webhook {
  readonly secret: string;
}

/** The event names a merchant reads, beside the names the API sends. */
function eventLabel(t: Texts, type: StockEventType): string {
  const labels: Record<StockEventType, string> = { 'stock.low_stock': t.low_stock, 'stock.sold_out': t.sold_out, 'stock.back_in_stock': t.backInStock };
  return labels[type];
}

function AddWebhook(props: { t: Texts; api: ConsoleApi; onCreated: (created: Created) => void }) {
  const { t } = props;
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<readonly StockEventType[]>(stockEventTypes);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>(undefined);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setFailure(undefined);
    try {
      // Sent in the API's order, whatever order the boxes were ticked in.
      const chosen = stockEventTypes.filter((type) => events.includes(type));
      props.onCreated(await props.api.send<Created>('POST', '/v1/webhooks', { url: url.trim(), events: chosen }));
      setUrl('');
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : errorText(error));
    }
    setBusy(false);
  };
  const toggle = (type: StockEventType, on: boolean): void => setEvents(on ? [...events, type] : events.filter((e) => e !== type));

  return (
    <form class="add-webhook" onSubmit={(event) => void submit(event)}>
      <h3>{t.addWebhook}</h3>
      <label for="webhook-url">{t.webhookUrl}</label>
      <input
        id="webhook-url"
        name="url"
        type="url"
        required
        placeholder="https://shop.example/stock-hook"
        value={url}
        onInput={(event) => setUrl((event.target as HTMLInputElement).value)}
      />
      <fieldset class="events">
        <legend>{t.webhookEvents}</legend>
        {stockEventTypes.map((type) => (
          <label key={type} class="check">
            <input type="checkbox" name="events" value={type} checked={events.includes(type)} onChange={(event) => toggle(type, (event.target as HTMLInputElement).checked)} />
            <span>{eventLabel(t, type)}</span> <code class="muted">{type}</code>
          </label>
        ))}
      </fieldset>
      <div class="row">
        <button type="submit" disabled={busy || events.length === 0}>{t.addWebhookButton}</button>
      </div>
      {failure ? <p class="error" role="alert">{`${t.errorPrefix}: ${failure}`}</p> : null}
    </form>
  );
}

/** The signing secret of a webhook just made, shown this once (the API never shows it again). */
function NewSecret(props: { t: Texts; created: Created; onDone: () => void }) {
  const { t, created } = props;
  return (
    <div class="new-secret" role="status">
      <h3>{t.webhookSecret}</h3>
      <p class="help">{t.webhookSecretHelp}</p>
      <p><code>{created.url}</code></p>
      <pre class="code" data-testid="webhook-secret">{created.secret}</pre>
      <div class="row">
        <CopyButton text={created.secret} t={t} />
        <button type="button" onClick={props.onDone}>{t.done}</button>
      </div>
    </div>
  );
}

function WebhookItem(props: { hook: Webhook; t: Texts; api: ConsoleApi; onDeleted: () => void }) {
  const { hook, t } = props;
  const [open, setOpen] = useState(false);
  const [step, setStep] = useState<'idle' | 'confirm' | 'working'>('idle');
  const [failure, setFailure] = useState<string | undefined>(undefined);

  const remove = async (): Promise<void> => {
    setStep('working');
    setFailure(undefined);
    try {
      await props.api.send<void>('DELETE', `/v1/webhooks/${encodeURIComponent(hook.id)}`);
      props.onDeleted();
    } catch (error) {
      setFailure(errorText(error));
      setStep('idle');
    }
  };

  return (
    <li class="webhook" data-webhook-id={hook.id}>
      <div>
        <code>{hook.url}</code> {hook.disabled ? <span class="status sold_out">{t.disabled}</span> : null}
      </div>
      <div class="muted small">{hook.events.join(', ')}</div>
      <div class="row tight">
        <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? t.hideDeliveries : t.showDeliveries}
        </button>
        {step === 'idle' ? (
          <button type="button" class="link danger-link" aria-label={`${t.deleteWebhook} ${hook.url}`} onClick={() => setStep('confirm')}>
            {t.deleteWebhook}
          </button>
        ) : null}
      </div>
      {step === 'idle' ? null : (
        <Confirm t={t} question={t.deleteWebhookConfirm} yes={t.deleteWebhookYes} busy={step === 'working'} onYes={() => void remove()} onCancel={() => setStep('idle')} />
      )}
      {failure ? <p class="error" role="alert">{`${t.errorPrefix}: ${failure}`}</p> : null}
      {open ? <Deliveries id={hook.id} t={t} api={props.api} /> : null}
    </li>
  );
}

function Deliveries(props: { id: string; t: Texts; api: ConsoleApi }) {
  const { t } = props;
  const deliveries = useLoad(() => props.api.get<{ items: Delivery[] }>(`/v1/webhooks/${encodeURIComponent(props.id)}/deliveries`));
  if (deliveries.state !== 'ready') return <LoadState loaded={deliveries} t={t} />;
  if (deliveries.value.items.length === 0) return <p class="muted">{t.noDeliveries}</p>;
  return (
    <div class="table-wrap">
      <table>
        <caption>{t.deliveries}</caption>
        <tbody>
          {deliveries.value.items.slice(0, 20).map((d) => (
            <tr key={d.id}>
              <td class="small">{new Date(d.at).toLocaleString()}</td>
              <td><code>{d.type}</code></td>
              <td><code>{d.sku}</code></td>
              <td class={d.statusCode !== null && d.statusCode < 300 ? 'ok' : 'error'}>{d.statusCode ?? d.error ?? ''}</td>
              <td class="small">{`#${d.attempt} ${d.state}`}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
