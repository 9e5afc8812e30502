import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { StockwireError, errorCodes, type ErrorCode } from '../errors.js';
import { toStoreError } from '../store/storage-errors.js';

/**
 * Maps every failure to the one error shape `{ error: { code, message } }`. Framework errors for
 * what a client sent (schema, JSON, size, content type) are 4xx contract codes; an unreachable
 * database or writes that kept conflicting are 503; only our own bugs are 500, and they say nothing about their cause.
 */
export function toStockwireError(error: unknown): StockwireError {
  // The store's rule for driver errors: unreachable or conflicting storage is a retryable 503.
  const stored = toStoreError(error);
  if (stored instanceof StockwireError) return stored;
  const fastifyError = error as Partial<FastifyError> | null;
  const code = fastifyError?.code;
  if (fastifyError?.validation) {
    return new StockwireError('validation_failed', validationMessage(fastifyError as FastifyError), { cause: error });
  }
  switch (code) {
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_ASYNC_CONSTRAINT':
      // Fastify's message quotes the whole URL, query string (and so any key in it) included.
      return new StockwireError('validation_failed', BAD_URL_MESSAGE, { cause: error });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new StockwireError('payload_too_large', undefined, { cause: error });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new StockwireError('validation_failed', 'The body is not valid JSON.', { cause: error });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new StockwireError('validation_failed', 'Send the body as application/json.', { cause: error });
    case 'FST_ERR_RATE_LIMIT_EXCEEDED':
      return new StockwireError('rate_limited', undefined, { cause: error });
  }
  const status = fastifyError?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Anything else the framework refuses on the client's account: keep it a 4xx with our shape.
    const mapped = codeForStatus(status);
    return new StockwireError(mapped, mapped === 'validation_failed' ? safeMessage(fastifyError) : undefined, {
      cause: error,
    });
  }
  return new StockwireError('internal_error', undefined, { cause: error });
}

const BAD_URL_MESSAGE = 'The URL is not valid.';

function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'unauthorized';
  if (status === 404) return 'not_found';
  if (status === 413) return 'payload_too_large';
  if (status === 429) return 'rate_limited';
  return 'validation_failed';
}

function safeMessage(error: Partial<FastifyError> | null): string {
  const message = error?.message;
  return typeof message === 'string' && message.length > 0 && message.length < 300 ? message : errorCodes.validation_failed.message;
}

function validationMessage(error: FastifyError): string {
  const first = error.validation?.[0];
  if (!first) return error.message;
  const where = error.validationContext ?? 'request';
  const path = first.instancePath ? `${where}${first.instancePath.replace(/\//g, '.')}` : where;
  const extra =
    first.keyword === 'additionalProperties'
      ? ` (${String((first.params as { additionalProperty?: unknown }).additionalProperty)})`
      : '';
  return `${path} ${first.message ?? 'is not valid'}${extra}`;
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const mapped = toStockwireError(error);
  if (mapped.status >= 500) request.log.error({ err: error, code: mapped.code }, 'request failed');
  // The reason is our own message, never the framework's (which may quote the URL and its query string).
  else request.log.info({ code: mapped.code, reason: mapped.message }, 'request refused');
  if (mapped.code === 'rate_limited' || mapped.code === 'storage_unavailable') {
    const retryAfter = reply.getHeader('retry-after');
    if (retryAfter === undefined) reply.header('retry-after', mapped.code === 'rate_limited' ? '60' : '1');
  }
  void reply.code(mapped.status).send(mapped.toBody());
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  void reply.code(404).send(new StockwireError('not_found', `No route ${request.method} ${request.url.split('?')[0]}.`).toBody());
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them still get the one error shape:
 * headers over Node's limit are 431 `headers_too_large`, anything else unparsable a 400.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const failure = tooLarge ? new StockwireError('headers_too_large') : new StockwireError('validation_failed', 'The request is not valid HTTP.');
  const body = JSON.stringify(failure.toBody());
  const reason = tooLarge ? 'Request Header Fields Too Large' : 'Bad Request';
  socket.end(
    `HTTP/1.1 ${failure.status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
