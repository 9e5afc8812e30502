import { useState } from 'preact/hooks';
import type { ConsoleApi } from './api.js';
import { Confirm } from './confirm.js';
import { CopyButton, errorText, Panel } from './parts.js';
import type { Texts } from './texts.js';

/** What a rotation answers: both new keys, the secret one shown this once. */
export interface Rotated {
  readonly publishableKey: string;
  readonly secretKey: string;
}

/** Key rotation behind a confirmation; the new keys are handed up to be shown once. */
export function Keys(props: { t: Texts; api: ConsoleApi; onRotated: (keys: Rotated) => void }) {
  const { t } = props;
  const [step, setStep] = useState<'idle' | 'confirm' | 'working'>('idle');
  const [failure, setFailure] = useState<string | undefined>(undefined);

  const rotate = async (): Promise<void> => {
    setStep('working');
    setFailure(undefined);
    try {
      props.onRotated(await props.api.send<Rotated>('POST', '/v1/merchant/keys/rotate'));
    } catch (error) {
      setFailure(errorText(error));
      setStep('idle');
    }
  };

  return (
    <Panel title={t.keys} help={t.keysHelp} id="keys">
      {step === 'idle' ? (
        <button type="button" class="danger" onClick={() => setStep('confirm')}>{t.rotate}</button>
      ) : (
        <Confirm t={t} question={t.rotateConfirm} yes={t.rotateYes} busy={step === 'working'} onYes={() => void rotate()} onCancel={() => setStep('idle')} />
      )}
      {failure ? <p class="error" role="alert">{`${t.errorPrefix}: ${failure}`}</p> : null}
    </Panel>
  );
}

/**
 * The keys a rotation made, shown once and held only while shown. Rotating ended this console's
 * session (it was bound to the old key), so "done" leads back to sign-in.
 */
export function NewKeys(props: { t: Texts; keys: Rotated; onDone: () => void }) {
  const { t, keys } = props;
  return (
    <section class="panel new-keys" role="alert">
      <h2>{t.newKeys}</h2>
      <p>{t.newKeysHelp}</p>
      <p class="label">{t.secretKey}</p>
      <pre class="code" data-testid="new-secret-key">{keys.secretKey}</pre>
      <CopyButton text={keys.secretKey} t={t} />
      <p class="label">{t.publishableKey}</p>
      <pre class="code">{keys.publishableKey}</pre>
      <div class="row">
        <button type="button" onClick={props.onDone}>{t.done}</button>
      </div>
    </section>
  );
}
