/**
 * Error codes the client reports, grouped by where they arise. Server codes from `error` frames and
 * REST error bodies (`rate_limited`, `too_many_subscriptions`, …) pass through unchanged.
 */
export const clientErrorCodes = [
  // creating the client
  'invalid_options',
  // the polling fallback (network failure or an answer that is not an error body)
  'poll_failed',
  // answers from the server
  'unauthorized',
  'forbidden_origin',
  'bad_request',
  'too_many_subscriptions',
  'rate_limited',
] as const;
export type ClientErrorCode = (typeof clientErrorCodes)[number];

/** A code from the list above, or any other code the server sends. */
export type StockwireErrorCode = ClientErrorCode | (string & {});

/**
 * Every failure the SDK reports is a `StockwireError` with a machine-readable `code`.
 *
 * @example
 * ```ts
 * client.on('error', (error) => {
 *   if (error.code === 'unauthorized') console.warn('Check the publishable key');
 * });
 * ```
 */
export class StockwireError extends Error {
  override readonly name = 'StockwireError';

  constructor(
    readonly code: StockwireErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
