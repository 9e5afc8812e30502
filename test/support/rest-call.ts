/** A merchant as `POST /v1/merchants` answers it. */
export interface TestMerchant {
  readonly id: string;
  readonly publishableKey: string;
  readonly secretKey: string;
}

/** One REST call over HTTP with a bearer token; the answer's status and JSON body. */
export async function restCall(base: string, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
