/**
 * `rateLimit`: a fixed-window limiter (Broadway's model) shared by every stream made from it: at
 * most `allowedMessages` items pass per `intervalMs` window, across all of its streams together.
 * Windows start when an item arrives after the last window closed, so an idle limiter runs no timer;
 * a timer runs only while items wait for the next window.
 *
 * Buffer bound of each stream: one item waits for a token, `highWaterMark` items wait on each side.
 * A waiting item holds its `write()`, so upstream stops while the limit is reached.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { z } from 'zod'
import { Fifo } from '../internal/fifo.js'
import { boolean, integer, parseOptions } from '../options.js'

/** The longest delay `setTimeout` honours: it fires a longer one after 1 ms, so the limiter would spin. */
const MAX_INTERVAL_MS = 2 ** 31 - 1

/** Schema of `rateLimit`'s options; the docs table and the type come from it. */
export const rateLimitOptionsSchema = z.strictObject({
  allowedMessages: integer(1).meta({
    description: 'Items allowed per window (required).',
    default: 'required',
  }),
  intervalMs: integer(1, { max: MAX_INTERVAL_MS }).meta({
    description: 'Window length in milliseconds (required).',
    default: 'required',
  }),
})

/** Options of `rateLimit`. */
export type RateLimitOptions = z.input<typeof rateLimitOptionsSchema>

/** Schema of `RateLimiter.update`'s argument. */
export const rateLimitUpdateSchema = z.strictObject({
  allowedMessages: integer(1).optional().meta({ description: 'New items allowed per window.' }),
  intervalMs: integer(1, { max: MAX_INTERVAL_MS })
    .optional()
    .meta({ description: 'New window length in milliseconds.' }),
  reset: boolean()
    .default(false)
    .meta({ description: 'Apply now and start a new window, instead of at the next window.' }),
})

/** Argument of `RateLimiter.update`. */
export type RateLimitUpdate = z.input<typeof rateLimitUpdateSchema>

/** Schema of `RateLimiter.stream`'s options. */
export const rateLimitStreamOptionsSchema = z.strictObject({
  highWaterMark: integer(1).default(16).meta({ description: 'Items buffered on each side of the stream.' }),
})

/** Options of `RateLimiter.stream`. */
export type RateLimitStreamOptions = z.input<typeof rateLimitStreamOptionsSchema>

/** What `RateLimiter.get` returns. */
export interface RateLimitState {
  /** Items allowed per window, as last set (in force from the next window unless reset). */
  readonly allowedMessages: number
  /** Window length in milliseconds, as last set. */
  readonly intervalMs: number
  /** Tokens left in the current window. */
  readonly remaining: number
}

interface Waiter {
  run: (() => void) | null
}

/** The limiter `rateLimit` returns; see `rateLimit`. */
export class RateLimiter {
  #allowed: number
  #interval: number
  /** Values set by `update`, taken up when the next window starts. */
  #nextAllowed: number
  #nextInterval: number
  #windowStart = -Infinity
  #remaining = 0
  readonly #waiters = new Fifo<Waiter>()
  #timer: NodeJS.Timeout | null = null

  constructor(options: RateLimitOptions) {
    const resolved = parseOptions(rateLimitOptionsSchema, options)
    this.#allowed = this.#nextAllowed = resolved.allowedMessages
    this.#interval = this.#nextInterval = resolved.intervalMs
  }

  /** The current settings and the tokens left in this window. */
  get(): RateLimitState {
    // Reading must not start a window (windows start when an item arrives): a window that is over
    // reports the budget the next one will have, unless items already wait for it.
    const over = Date.now() >= this.#windowStart + this.#interval
    return Object.freeze({
      allowedMessages: this.#nextAllowed,
      intervalMs: this.#nextInterval,
      remaining: over && this.#waiters.length === 0 ? this.#nextAllowed : this.#remaining,
    })
  }

  /**
   * Changes the limit at run time. New values take effect when the next window starts; with
   * `reset: true` they take effect now, in a new window with a full budget.
   */
  update(update: RateLimitUpdate): void {
    const resolved = parseOptions(rateLimitUpdateSchema, update, 'update')
    this.#nextAllowed = resolved.allowedMessages ?? this.#nextAllowed
    this.#nextInterval = resolved.intervalMs ?? this.#nextInterval
    if (resolved.reset) {
      this.#windowStart = -Infinity
      if (this.#timer !== null) {
        clearTimeout(this.#timer)
        this.#timer = null
      }
      this.#serve()
    }
  }

  /** Takes one token now if the window has one left. */
  tryTake(): boolean {
    return this.takeUpTo(1) === 1
  }

  /**
   * Takes up to `n` tokens now, fewer when the window has fewer left, none while others wait;
   * returns how many were taken. Lets a stage that moves arrays pay for a whole array at once.
   */
  takeUpTo(n: number): number {
    if (this.#remaining === 0 || this.#waiters.length > 0) {
      this.#roll(Date.now())
      // Items already waiting go first, so no stream starves another.
      if (this.#remaining === 0 || this.#waiters.length > 0) return 0
    }
    const taken = n < this.#remaining ? n : this.#remaining
    this.#remaining -= taken
    return taken
  }

  /**
   * Runs `run` when a token is taken for it (now, or in a later window), in arrival order. Returns
   * a function that cancels the wait.
   */
  whenAvailable(run: () => void): () => void {
    if (this.tryTake()) {
      run()
      return noop
    }
    const waiter: Waiter = { run }
    this.#waiters.push(waiter)
    this.#schedule()
    return () => {
      waiter.run = null
      this.#stopIfIdle()
    }
  }

  /**
   * A pass-through object stream that lets each item through when the limiter grants it a token.
   * Every stream of one limiter shares its budget.
   * @param options.highWaterMark items buffered on each side. @default 16
   */
  stream(options?: RateLimitStreamOptions): Transform {
    const resolved = parseOptions(rateLimitStreamOptionsSchema, options)
    let cancel: () => void = noop
    return new Transform({
      objectMode: true,
      highWaterMark: resolved.highWaterMark,
      transform: (item: unknown, _encoding, callback: TransformCallback) => {
        if (this.tryTake()) {
          callback(null, item)
          return
        }
        // Named, so a stack trace through a waiting item says where it waited.
        cancel = this.whenAvailable(function rateLimitedRelease() {
          cancel = noop
          callback(null, item)
        })
      },
      destroy(error, callback) {
        cancel()
        callback(error)
      },
    })
  }

  /** Starts a new window if the current one is over. */
  #roll(now: number): void {
    if (now < this.#windowStart + this.#interval) return
    this.#allowed = this.#nextAllowed
    this.#interval = this.#nextInterval
    this.#windowStart = now
    this.#remaining = this.#allowed
  }

  #serve(): void {
    this.#timer = null
    this.#roll(Date.now())
    while (this.#remaining > 0 && this.#waiters.length > 0) {
      const waiter = this.#waiters.shift() as Waiter
      if (waiter.run === null) continue
      this.#remaining--
      waiter.run()
    }
    this.#stopIfIdle()
    if (this.#waiters.length > 0) this.#schedule()
  }

  /**
   * Drops cancelled waiters at the head and, when no waiter is left, the timer: a release during
   * `#serve` may have armed one for a waiter served in the same pass, and a destroyed stream leaves
   * none to serve. A leftover timer would keep the process alive for up to `intervalMs`.
   */
  #stopIfIdle(): void {
    while (this.#waiters.peek()?.run === null) this.#waiters.shift()
    if (this.#waiters.length === 0 && this.#timer !== null) {
      clearTimeout(this.#timer)
      this.#timer = null
    }
  }

  #schedule(): void {
    if (this.#timer !== null) return
    const delay = Math.max(0, this.#windowStart + this.#interval - Date.now())
    this.#timer = setTimeout(() => {
      this.#serve()
    }, delay)
  }
}

function noop(): void {
  // nothing to cancel
}

/**
 * Creates a rate limiter: at most `allowedMessages` items per `intervalMs` window, shared by every
 * stream made with `limiter.stream()`, changeable at run time with `update()`.
 *
 * @param options.allowedMessages items allowed per window. Required.
 * @param options.intervalMs window length in milliseconds. Required.
 * @example
 * const limiter = rateLimit({ allowedMessages: 100, intervalMs: 1000 })
 * await pipeline(source, limiter.stream(), sink)
 * limiter.update({ allowedMessages: 500 }) // from the next window
 */
export function rateLimit(options: RateLimitOptions): RateLimiter {
  return new RateLimiter(options)
}
