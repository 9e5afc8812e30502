import { pino, type Logger as PinoLogger } from 'pino';
import type { Config } from './config.js';

export type Logger = PinoLogger;

/** The process logger: JSON lines on stdout, at `LOG_LEVEL`. */
export function createLogger(level: Config['logLevel'], bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { service: 'stockwire', ...bindings } });
}
