/**
 * Every error code a client can receive, with its HTTP status and default message: the one registry
 * for REST answers and socket `error` frames alike. Codes are the contract's, so clients can switch on them.
 */
export const errorCodes = {
  validation_failed: { status: 400, message: 'The request is not valid.' },
  bad_request: { status: 400, message: 'The message is not valid.' },
  unauthorized: { status: 401, message: 'A valid key is required.' },
  forbidden_origin: { status: 403, message: 'This origin is not allowed for this key.' },
  csrf_failed: { status: 403, message: 'This change needs the console session\'s CSRF token (X-Stockwire-CSRF).' },
  admin_disabled: { status: 403, message: 'The admin API is disabled: ADMIN_TOKEN is not set.' },
  limit_exceeded: { status: 403, message: "This would go past the merchant's limit." },
  not_found: { status: 404, message: 'Not found.' },
  insufficient_stock: { status: 409, message: 'Not enough stock available.' },
  version_conflict: { status: 409, message: 'The stock changed since the version given.' },
  idempotency_conflict: { status: 409, message: 'This Idempotency-Key was used with another request.' },
  reservation_not_held: { status: 409, message: 'The reservation is no longer held.' },
  too_many_webhooks: { status: 409, message: 'This merchant has as many webhooks as allowed (WEBHOOKS_PER_MERCHANT).' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  too_many_subscriptions: { status: 429, message: 'Too many subscriptions on this connection.' },
  rate_limited: { status: 429, message: 'Too many requests; slow down.' },
  storage_unavailable: { status: 503, message: 'Storage is unavailable; try again shortly.' },
  internal_error: { status: 500, message: 'Internal error.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCodes;

/** A failure with a contract code. `cause` keeps the underlying error for logs, never for clients. */
export class StockwireError extends Error {
  override readonly name = 'StockwireError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string = errorCodes[code].message,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = errorCodes[code].status;
    this.details = options?.details;
  }

  readonly details: Record<string, unknown> | undefined;

  toBody(): { error: { code: ErrorCode; message: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}
