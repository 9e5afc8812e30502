/**
 * The console's calls to its own API. The session cookie goes along by itself (same origin,
 * HttpOnly: this code never sees it); every change carries the session's CSRF token.
 */
export const CSRF_HEADER = 'X-Stockwire-CSRF';

export interface Session {
  readonly merchantId: string;
  readonly name: string;
  readonly publishableKey: string;
  readonly csrfToken: string;
  readonly expiresAt: string;
}

/** An answer in the API's error shape (or a network failure, status 0). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function request<T>(method: string, path: string, body?: unknown, csrf?: string): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (csrf !== undefined) headers[CSRF_HEADER] = csrf;
  let response: Response;
  try {
    response = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  } catch (error) {
    throw new ApiError(0, 'network', error instanceof Error ? error.message : String(error));
  }
  if (response.status === 204) return undefined as T;
  const answer: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const error = (answer as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(response.status, error?.code ?? 'unknown', error?.message ?? `HTTP ${response.status}`);
  }
  return answer as T;
}

/** Exchanges the key for a session; the caller drops the key right after. */
export function signIn(secretKey: string): Promise<Session> {
  return request<Session>('POST', '/v1/console/session', { secretKey });
}

/** The session this browser holds, or null when it holds none that is alive. */
export async function currentSession(): Promise<Session | null> {
  try {
    return await request<Session>('GET', '/v1/console/session');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

/** Calls made once signed in. */
export class ConsoleApi {
  constructor(private readonly csrf: string) {}

  get<T>(path: string): Promise<T> {
    return request<T>('GET', path);
  }

  send<T>(method: 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return request<T>(method, path, body, this.csrf);
  }

  signOut(): Promise<void> {
    return this.send<void>('DELETE', '/v1/console/session');
  }
}
