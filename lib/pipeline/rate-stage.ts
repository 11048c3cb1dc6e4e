/**
 * The rate-limiting stage: lets arrays of messages through as the pipeline's limiter grants
 * tokens, splitting an array when the window has fewer tokens than messages. One stage after the
 * intake, so every producer of the pipeline shares the limit.
 *
 * Buffer bound: `highWaterMark` arrays on each side, plus the one array waiting for tokens, whose
 * `write()` is held meanwhile.
 */
import { Transform, type TransformCallback } from 'node:stream'
import type { Message } from '../message.js'
import type { RateLimiter } from '../streams/rate-limit.js'

/** See the module comment. */
export function rateStage(limiter: RateLimiter, highWaterMark: number): Transform {
  let cancel: (() => void) | null = null
  return new Transform({
    objectMode: true,
    highWaterMark,
    transform(chunk: Message[], _encoding, callback: TransformCallback) {
      let at = 0
      const pass = (granted: number): void => {
        const taken = granted + limiter.takeUpTo(chunk.length - at - granted)
        if (at + taken === chunk.length) {
          cancel = null
          callback(null, at === 0 ? chunk : chunk.slice(at))
          return
        }
        if (taken > 0) {
          this.push(chunk.slice(at, at + taken))
          at += taken
        }
        // One token per wait: the limiter serves waiters in order, then the rest is taken at once.
        cancel = limiter.whenAvailable(function rateLimitedRelease() {
          pass(1)
        })
      }
      pass(0)
    },
    destroy(error, callback) {
      cancel?.()
      callback(error)
    },
  })
}
