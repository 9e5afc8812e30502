import { errorCodeOf } from './answers.js';

export class SimulatorError extends Error {
  override readonly name = 'SimulatorError';
  constructor(
    readonly code: 'unauthorized' | 'unreachable' | 'bad_response',
    message: string,
  ) {
    super(message);
  }
}

export interface Answer {
  readonly status: number;
  readonly body: unknown;
}

export interface SimulatorApiOptions {
  readonly apiUrl: string;
  readonly secretKey: string;
  /** Requests in all before `onBoundReached`; default no bound. */
  readonly maxRequests?: number;
  /** A refused key or an API that stopped answering: the stream cannot go on. */
  readonly onFatal: (error: SimulatorError) => void;
  readonly onBoundReached: () => void;
  /** A 5xx answer, worth telling the listener about. */
  readonly onServerError: (message: string) => void;
}

const maxConsecutiveNetworkErrors = 10;

/**
 * The simulator's REST client: one secret key, a bound on the number of requests, and what the
 * answers mean for the stream (401/403 is fatal, 429 pauses it, ten network failures in a row end it).
 */
export class SimulatorApi {
  readonly apiUrl: string;
  requests = 0;
  networkErrors = 0;
  serverErrors = 0;
  rateLimited = 0;
  /** Until then new orders wait (a 429's Retry-After). */
  pausedUntil = 0;
  private consecutiveNetworkErrors = 0;
  private readonly maxRequests: number;

  constructor(private readonly options: SimulatorApiOptions) {
    this.apiUrl = options.apiUrl.replace(/\/+$/, '');
    this.maxRequests = options.maxRequests ?? Number.POSITIVE_INFINITY;
  }

  /** `always`: sent even past the request bound (resolving holds leaves nothing held behind). Undefined: not sent, or no answer. */
  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, always = false): Promise<Answer | undefined> {
    if (this.requests >= this.maxRequests && !always) {
      this.options.onBoundReached();
      return undefined;
    }
    this.requests += 1;
    let response: Response;
    try {
      response = await fetch(`${this.apiUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.options.secretKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      this.networkErrors += 1;
      this.consecutiveNetworkErrors += 1;
      if (this.consecutiveNetworkErrors >= maxConsecutiveNetworkErrors) {
        this.options.onFatal(new SimulatorError('unreachable', `The API at ${this.apiUrl} stopped answering: ${(error as Error).message}`));
      }
      return undefined;
    }
    this.consecutiveNetworkErrors = 0;
    const text = await response.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = text;
    }
    if (response.status === 401 || response.status === 403) {
      this.options.onFatal(
        new SimulatorError('unauthorized', `The API refused the secret key (${response.status} ${errorCodeOf(parsed) ?? ''}). Pass an sk_… key of the merchant with --key.`),
      );
    } else if (response.status === 429) {
      this.rateLimited += 1;
      const retry = Number(response.headers.get('retry-after'));
      this.pausedUntil = Date.now() + (Number.isFinite(retry) && retry > 0 ? retry * 1000 : 1000);
    } else if (response.status >= 500) {
      this.serverErrors += 1;
      this.options.onServerError(`${method} ${path}: ${response.status} ${errorCodeOf(parsed) ?? ''}`);
    }
    return { status: response.status, body: parsed };
  }
}
