import { useEffect, useRef } from 'preact/hooks';
import type { Texts } from './texts.js';

/**
 * The one "are you sure?" every destructive action in the console goes through (key rotation,
 * deleting a webhook). Cancel takes the focus first, so a stray Enter never confirms.
 */
export function Confirm(props: { t: Texts; question: string; yes: string; busy: boolean; onYes: () => void; onCancel: () => void }) {
  const { t } = props;
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => cancel.current?.focus(), []);
  return (
    <div class="confirm" role="alertdialog" aria-label={props.question}>
      <p>{props.question}</p>
      <div class="row">
        <button type="button" class="danger" disabled={props.busy} onClick={props.onYes}>{props.yes}</button>
        <button type="button" class="secondary" ref={cancel} onClick={props.onCancel}>{t.cancel}</button>
      </div>
    </div>
  );
}
