/**
 * Retries with exponential backoff and full jitter, for the sinks: a transient fault is tried again
 * after `minDelayMs × 2^n` (capped at `maxDelayMs`, drawn uniformly below it so that many writers
 * do not retry in step), or after the delay the fault asks for (an HTTP `Retry-After`).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { SinkRetriesExhaustedError } from '../errors.js'

/** How a fault is treated: not retried, retried after the backoff, or after a given delay. */
export type RetryVerdict = false | true | { readonly afterMs: number }

/** Options of `withRetries`. */
export interface RetryOptions {
  /** Retries after the first attempt (0: try once). */
  readonly retries: number
  readonly minDelayMs: number
  readonly maxDelayMs: number
  /** Whether (and when) to retry after `error`. */
  readonly classify: (error: unknown) => RetryVerdict
  /** Called before each retry, e.g. to log it. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void
  /** Aborting it stops waiting and rejects with the last fault. */
  readonly signal?: AbortSignal
  /** The random source of the jitter (tests pass a fixed one). @default Math.random */
  readonly random?: () => number
}

/** The delay before retry number `retry` (1-based): full jitter below the capped exponential. */
export function backoffDelay(
  retry: number,
  minDelayMs: number,
  maxDelayMs: number,
  random = Math.random,
): number {
  const cap = Math.min(maxDelayMs, minDelayMs * 2 ** (retry - 1))
  return Math.round(random() * cap)
}

/**
 * Runs `attempt(n)` (n from 1) until it resolves, a fault is not retryable (rethrown as is), or
 * the retries run out (`SinkRetriesExhaustedError` with the last fault as `cause`).
 */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n)
    } catch (error) {
      const verdict = options.classify(error)
      if (verdict === false) throw error
      if (n > options.retries)
        throw new SinkRetriesExhaustedError(
          `Gave up after ${String(n)} attempts: ${error instanceof Error ? error.message : String(error)}`,
          n,
          { cause: error },
        )
      const delayMs =
        verdict === true
          ? backoffDelay(n, options.minDelayMs, options.maxDelayMs, options.random)
          : Math.min(verdict.afterMs, options.maxDelayMs)
      options.onRetry?.(error, n, delayMs)
      try {
        await sleep(delayMs, undefined, options.signal === undefined ? undefined : { signal: options.signal })
      } catch {
        throw error
      }
    }
  }
}
