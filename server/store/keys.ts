import { createHash, randomBytes } from 'node:crypto';

/** Secret keys are stored only as this digest; a leaked table gives no usable key. */
export function hashSecretKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function newSecretKey(): string {
  return `sk_${randomBytes(24).toString('base64url')}`;
}

export function newPublishableKey(): string {
  return `pk_${randomBytes(18).toString('base64url')}`;
}

/** Hex only: a merchant id never contains the `:` that separates it from the SKU in topics. */
export function newMerchantId(): string {
  return `m_${randomBytes(10).toString('hex')}`;
}

export function newReservationId(): string {
  return `res_${randomBytes(12).toString('base64url')}`;
}

/** One per event, shared by every endpoint it goes to: receivers drop repeats by it. */
export function newEventId(): string {
  return `evt_${randomBytes(16).toString('hex')}`;
}
