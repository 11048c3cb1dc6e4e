/** Exit codes of `streamway import` (documented in `docs/cli.md`). */

export const ExitCode = {
  /** Every row read was imported. */
  ok: 0,
  /** The import finished, but some rows failed (they are in the dead-letter file). */
  someFailed: 1,
  /** A usage error, a refused start, the error budget exceeded, or a fatal error. */
  error: 2,
  /** Stopped by SIGINT / SIGTERM (or the injected abort signal) after a graceful shutdown. */
  interrupted: 130,
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** What an import's outcome needs to pick its exit code. */
export interface Outcome {
  readonly fatal: boolean
  readonly budgetExceeded: boolean
  readonly interrupted: boolean
  readonly failed: number
  readonly unacked: number
}

/** Fatal or over budget beats interrupted, which beats rows failed. */
export function exitCodeOf(o: Outcome): ExitCode {
  if (o.fatal || o.budgetExceeded) return ExitCode.error
  if (o.interrupted) return ExitCode.interrupted
  if (o.unacked > 0) return ExitCode.error
  if (o.failed > 0) return ExitCode.someFailed
  return ExitCode.ok
}
