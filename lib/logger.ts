/**
 * Logging: every log line of streamway goes through pino. Users pass their own pino logger; the
 * default writes warnings and errors to stderr (never stdout, which a CLI may use for data). Both
 * redact the usual secret-bearing fields.
 */
import { pino, type Logger } from 'pino'

/** The logger interface the engine and adapters use: pino's. */
export type { Logger }

/** Paths pino replaces with `[redacted]` in every line: auth headers, passwords, tokens. */
export const redactPaths: readonly string[] = [
  'headers.authorization',
  'headers.Authorization',
  'headers.cookie',
  'headers["proxy-authorization"]',
  '*.headers.authorization',
  '*.headers.Authorization',
  '*.headers.cookie',
  '*.headers["proxy-authorization"]',
  'password',
  '*.password',
  'sasl.password',
  '*.sasl.password',
  'token',
  '*.token',
]

/**
 * The default logger: pino named `streamway`, with `redactPaths`, at `level` (default `warn`), to
 * `destination` (default stderr).
 */
export function defaultLogger(
  level: pino.LevelWithSilent = 'warn',
  destination: pino.DestinationStream | NodeJS.WritableStream = pino.destination(2),
): Logger {
  return pino(
    { name: 'streamway', level, redact: { paths: [...redactPaths], censor: '[redacted]' } },
    destination,
  )
}

/** True when `value` looks like a pino logger (the methods the engine calls). */
export function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return ['error', 'warn', 'info', 'debug', 'child'].every((method) => typeof v[method] === 'function')
}
