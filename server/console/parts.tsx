import { useEffect, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { ApiError } from './api.js';
import type { Texts } from './texts.js';

/** What a read from the API holds: loading, its answer, "not on this server" (404), or an error. */
export type Loaded<T> = { readonly state: 'loading' } | { readonly state: 'ready'; readonly value: T } | { readonly state: 'missing' } | { readonly state: 'failed'; readonly message: string };

/** Reads once (and again whenever `reload` changes). */
export function useLoad<T>(load: () => Promise<T>, reload: unknown = 0): Loaded<T> {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: 'loading' });
  useEffect(() => {
    let current = true;
    load().then(
      (value) => current && setLoaded({ state: 'ready', value }),
      (error: unknown) => {
        if (!current) return;
        if (error instanceof ApiError && error.status === 404) setLoaded({ state: 'missing' });
        else setLoaded({ state: 'failed', message: errorText(error) });
      },
    );
    return () => {
      current = false;
    };
  }, [reload]);
  return loaded;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function Panel(props: { title: string; help?: string; wide?: boolean; id?: string; children: ComponentChildren }) {
  return (
    <section class={props.wide ? 'panel wide' : 'panel'} id={props.id} aria-labelledby={props.id ? `${props.id}-title` : undefined}>
      <h2 id={props.id ? `${props.id}-title` : undefined}>{props.title}</h2>
      {props.help ? <p class="help">{props.help}</p> : null}
      {props.children}
    </section>
  );
}

/** The loading / not-available / error lines every panel shares. */
export function LoadState(props: { loaded: Loaded<unknown>; t: Texts; missing?: string }) {
  const { loaded, t } = props;
  if (loaded.state === 'loading') return <p class="muted">…</p>;
  if (loaded.state === 'missing') return <p class="muted">{props.missing ?? t.notAvailable}</p>;
  if (loaded.state === 'failed') return <p class="error" role="alert">{`${t.errorPrefix}: ${loaded.message}`}</p>;
  return null;
}

/** Copies `text`; says so for a moment. */
export function CopyButton(props: { text: string; t: Texts; label?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async (): Promise<void> => {
    await navigator.clipboard.writeText(props.text);
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return (
    <button type="button" class="secondary" onClick={() => void copy().catch(() => setCopied(false))}>
      {copied ? props.t.copied : (props.label ?? props.t.copy)}
    </button>
  );
}
