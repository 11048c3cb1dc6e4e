/**
 * A producer stream the intake may call for messages instead of reading them from its buffer. A
 * source whose values are there on demand (a sync iterator) then makes each message only when a
 * processor wants it: no chunk array, no `push()` / `read()`, and no chunks waiting in the stream
 * for the GC to copy. `fromIterable` over a sync iterable is one.
 *
 * The stream stays a plain `Readable` for anyone else: only the intake takes it over, and only once
 * it is attached to a pipeline.
 */
import type { EntryStamp, Message } from '../message.js'

/** @internal Key of the method a pull source takes over by. */
export const takeOver = Symbol('streamway.takeOver')

/**
 * Moves up to `size - into.length` messages into `into`, each stamped `entered = now`. Fewer only
 * when the source has ended (it then ends its stream) or failed (it then destroys it).
 */
export type Pull = (into: Message[], size: number, now: EntryStamp) => void

/** @internal A stream the intake can pull from. See the module comment. */
export interface PullSource {
  /**
   * Called once, when the intake attaches the stream: from then on the stream no longer fills its
   * own buffer (what is in it already is still read first), and the intake calls the returned
   * function instead.
   */
  [takeOver](): Pull
}

/** True when `stream` can be pulled from. */
export function isPullSource(stream: object): stream is PullSource {
  return typeof (stream as Partial<PullSource>)[takeOver] === 'function'
}
