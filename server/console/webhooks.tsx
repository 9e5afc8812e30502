import { useState } from 'preact/hooks';
import type { ConsoleApi } from './api.js';
import { LoadState, Panel, useLoad } from './parts.js';
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

/** The merchant's webhooks and, on demand, each one's recent delivery attempts. */
export function Webhooks(props: { t: Texts; api: ConsoleApi }) {
  const { t, api } = props;
  const webhooks = useLoad(() => api.get<{ items: Webhook[] }>('/v1/webhooks'));
  return (
    <Panel title={t.webhooks} id="webhooks">
      <LoadState loaded={webhooks} t={t} />
      {webhooks.state === 'ready' ? (
        webhooks.value.items.length === 0 ? (
          <p class="muted">{t.noWebhooks}</p>
        ) : (
          <ul class="plain">
            {webhooks.value.items.map((hook) => (
              <WebhookItem key={hook.id} hook={hook} t={t} api={api} />
            ))}
          </ul>
        )
      ) : null}
    </Panel>
  );
}

function WebhookItem(props: { hook: Webhook; t: Texts; api: ConsoleApi }) {
  const { hook, t } = props;
  const [open, setOpen] = useState(false);
  return (
    <li class="webhook">
      <div>
        <code>{hook.url}</code> {hook.disabled ? <span class="status sold_out">{t.disabled}</span> : null}
      </div>
      <div class="muted small">{hook.events.join(', ')}</div>
      <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? t.hideDeliveries : t.showDeliveries}
      </button>
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
