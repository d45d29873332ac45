import pino, { type Logger } from 'pino';
import { redactCredentials } from './redaction';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear in a log line. Secrets, signatures and credentials must
 * never reach a log, even when someone logs a whole object by mistake.
 */
export const REDACTED_PATHS = [
  'secret',
  '*.secret',
  '*.*.secret',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  '*.*.authorization',
  'headers.authorization',
  'headers["webhook-signature"]',
  'headers["x-webhook-signature"]',
  '*.headers["webhook-signature"]',
  '*.headers["x-webhook-signature"]',
  'req.headers.authorization',
  'req.headers.cookie',
];

export function createLogger(options: {
  level: string;
  pretty: boolean;
  name?: string;
  /** Where lines go instead of stdout (tests capture them). */
  destination?: pino.DestinationStream;
}): Logger {
  const pinoOptions: pino.LoggerOptions = {
    name: options.name ?? 'herald',
    level: options.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    // Paths cannot catch a secret inside a message (a database error quoting its SQL, say): every line is
    // scrubbed of credential-shaped text as it is written.
    hooks: { streamWrite: redactCredentials },
    ...(options.pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  };
  return options.destination ? pino({ ...pinoOptions, transport: undefined }, options.destination) : pino(pinoOptions);
}
