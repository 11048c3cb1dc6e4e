/** What the CLI talks to: injected so that tests run it in-process. */
import type { Writable } from 'node:stream'

/** The streams, environment and stop triggers of one CLI run. */
export interface CliIo {
  /** Where the data goes with `--to -` (and `--help`). */
  readonly stdout: Writable & { isTTY?: boolean }
  /** Progress, logs, errors and the summary. */
  readonly stderr: Writable & { isTTY?: boolean; columns?: number }
  readonly env: Readonly<Record<string, string | undefined>>
  /** Stops the import gracefully when aborted, as a signal does (exit code 130). */
  readonly signal?: AbortSignal
  /** Process signals that stop the import gracefully. @default ['SIGTERM', 'SIGINT'] */
  readonly signals?: readonly NodeJS.Signals[]
}

/** A bad command line or a refused start: a clear message and exit code 2, no stack. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}
