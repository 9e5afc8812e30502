/** A small keep-alive JSON client for the REST write path (node:http, no fetch overhead). */
import http from 'node:http';

export interface JsonResponse {
  readonly status: number;
  readonly body: unknown;
}

export class JsonClient {
  private readonly agent: http.Agent;
  private readonly base: URL;

  constructor(
    baseUrl: string,
    private readonly authorization: string | undefined,
    maxSockets = 64,
  ) {
    this.base = new URL(baseUrl);
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request(method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<JsonResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent: this.agent,
          host: this.base.hostname,
          port: this.base.port,
          method,
          path,
          timeout: timeoutMs,
          headers: {
            ...(this.authorization ? { authorization: this.authorization } : {}),
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON: keep the text for the error message
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The version of a REST write answer (`{ version }` or `{ stock: { version } }`). */
export function versionOf(body: unknown): number | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const record = body as { version?: unknown; stock?: { version?: unknown } };
  if (typeof record.version === 'number') return record.version;
  if (record.stock && typeof record.stock.version === 'number') return record.stock.version;
  return undefined;
}
