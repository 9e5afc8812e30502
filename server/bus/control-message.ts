/**
 * Messages every node hears, whatever products its sockets watch: a key rotation, a merchant's
 * settings changing or the merchant being deleted. They carry ids only, never a key or a setting's
 * value: a receiver re-reads what it needs from the store.
 */
export const controlMessageTypes = ['keys_revoked', 'merchant_changed', 'merchant_deleted'] as const;
export type ControlMessageType = (typeof controlMessageTypes)[number];

export interface ControlMessage {
  readonly type: ControlMessageType;
  readonly merchantId: string;
}
