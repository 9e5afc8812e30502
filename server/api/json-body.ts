import type { FastifyRequest } from 'fastify';
import { StockwireError } from '../errors.js';

type Done = (error: Error | null, body?: unknown) => void;
type JsonParser = (request: FastifyRequest, body: string, done: Done) => void;

/**
 * JSON bodies for every route: Fastify's own parser (prototype poisoning refused), then a depth
 * check, so no code behind it (idempotency fingerprints, validation) ever recurses into a body
 * nested deeper than `maxDepth` — deeply nested JSON is a 400, never a stack overflow. An empty
 * body on a route that takes none (commit, release) is no body, not broken JSON.
 */
export function parseJsonBody(parse: JsonParser, maxDepth: number) {
  return (request: FastifyRequest, body: string | Buffer, done: Done): void => {
    const text = String(body);
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    parse(request, text, (error, value) => {
      if (error) done(error);
      else if (depthOf(value, maxDepth) > maxDepth) {
        done(new StockwireError('validation_failed', `The body is nested more than ${maxDepth} levels deep.`));
      } else done(null, value);
    });
  };
}

/** Nesting depth of a parsed JSON value, without recursion; stops counting once past `limit`. */
export function depthOf(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== 'object') continue;
    const level = depth + 1;
    if (level > deepest) deepest = level;
    if (deepest > limit) return deepest;
    for (const child of Object.values(item as Record<string, unknown>)) {
      if (child !== null && typeof child === 'object') stack.push([child, level]);
    }
  }
  return deepest;
}
