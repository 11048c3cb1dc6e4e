/**
 * `concurrentMap`: an object-mode Duplex that calls `fn` on each item with at most `concurrency`
 * calls in flight — the processors of a pipeline.
 *
 * Buffer bound: at most `highWaterMark` items wait on the writable side, and the calls in flight
 * plus the results not yet read downstream never exceed `highWaterMark + concurrency`. So a
 * consumer that stops reading makes the stream hold at most `2 × highWaterMark + concurrency` items
 * before upstream sees `write()` return false.
 *
 * Ordered mode keeps results in a FIFO behind the oldest call still running (head-of-line blocking:
 * one slow call holds back at most `highWaterMark + concurrency - 1` finished results); unordered
 * mode pushes each result as soon as it settles.
 *
 * Hot path: a synchronous `fn` costs one call and one `push` per item, no promise and no allocation
 * beyond what Node's Writable does itself.
 */
import { Duplex } from 'node:stream'
import { z } from 'zod'
import { AbortError, toError } from '../errors.js'
import { Fifo } from '../internal/fifo.js'
import { isThenable } from '../internal/thenable.js'
import {
  abortSignal,
  assertFunction,
  boolean,
  integer,
  parseOptions,
  type ResolvedOptions,
} from '../options.js'

/** What each call of a `concurrentMap` function receives besides the item. */
export interface MapContext {
  /** Aborted when the stream is torn down with work in flight (an error, an abort, or `destroy()`). */
  readonly signal: AbortSignal
}

/**
 * A map function: returns the result, or a promise of it. A result of `null` or `undefined` emits
 * nothing, so the same function can filter.
 */
export type MapFn<I, O> = (
  item: I,
  context: MapContext,
) => O | null | undefined | PromiseLike<O | null | undefined>

/** Schema of `concurrentMap`'s options; the docs table and the type come from it. */
export const concurrentMapOptionsSchema = z.strictObject({
  concurrency: integer(1).default(1).meta({ description: 'Most calls of `fn` in flight at once.' }),
  ordered: boolean()
    .default(true)
    .meta({ description: 'Emit results in input order; `false` emits each as soon as it settles.' }),
  highWaterMark: integer(1)
    .default(16)
    .meta({ description: 'Items buffered on each side, beyond the calls in flight.' }),
  signal: abortSignal()
    .optional()
    .meta({ description: 'Aborting it destroys the stream with an `AbortError` (`SW_ERR_ABORTED`).' }),
})

/** Options of `concurrentMap`. */
export type ConcurrentMapOptions = z.input<typeof concurrentMapOptionsSchema>

/** A slot of the ordered FIFO: a call in flight, or a settled result waiting for those ahead. */
interface Slot<O> {
  done: boolean
  value: O | null | undefined
}

type Callback = (error?: Error | null) => void

/** The stream `concurrentMap` returns; see `concurrentMap`. */
export class ConcurrentMap<I, O> extends Duplex {
  /** The validated options, frozen. */
  readonly options: ResolvedOptions<typeof concurrentMapOptionsSchema>
  readonly #fn: MapFn<I, O>
  readonly #concurrency: number
  readonly #ordered: boolean
  readonly #limit: number
  readonly #controller = new AbortController()
  readonly #context: MapContext = { signal: this.#controller.signal }
  readonly #slots = new Fifo<Slot<O>>()
  #inFlight = 0
  /** Results settled in the FIFO but not pushed yet (ordered mode only). */
  #waiting = 0
  #writeCallback: Callback | null = null
  /**
   * `_read` was called and nothing was pushed since. Node calls `_read` again only after a push,
   * so while this is set a full readable side must not hold a write: nothing would release it.
   */
  #readRequested = false
  #finalCallback: Callback | null = null
  #onAbort: (() => void) | null = null

  constructor(fn: MapFn<I, O>, options?: ConcurrentMapOptions) {
    assertFunction(fn, 'fn')
    const resolved = parseOptions(concurrentMapOptionsSchema, options)
    super({ objectMode: true, highWaterMark: resolved.highWaterMark })
    this.options = resolved
    this.#fn = fn
    this.#concurrency = resolved.concurrency
    this.#ordered = resolved.ordered
    this.#limit = resolved.highWaterMark
    const signal = resolved.signal
    if (signal !== undefined) {
      const onAbort = () => this.destroy(new AbortError(undefined, { cause: signal.reason }))
      if (signal.aborted) process.nextTick(onAbort)
      else {
        this.#onAbort = onAbort
        signal.addEventListener('abort', onAbort, { once: true })
      }
    }
  }

  /** Calls in flight now. */
  get inFlight(): number {
    return this.#inFlight
  }

  override _write(item: I, _encoding: BufferEncoding, callback: Callback): void {
    const error = this.#run(item)
    if (error !== undefined) callback(error)
    else if (this.#canAccept()) callback()
    else this.#writeCallback = callback
  }

  /** Calls `fn` on `item` and hands on or keeps its result; returns what `fn` threw, if it did. */
  #run(item: I): Error | undefined {
    let result
    try {
      result = this.#fn(item, this.#context)
    } catch (error) {
      return toError(error)
    }
    if (isThenable(result)) this.#start(result)
    else if (this.#slots.length === 0) {
      if (result != null) this.emitResult(result)
    } else {
      // An earlier call is still running: this result waits its turn.
      this.#slots.push({ done: true, value: result })
      this.#waiting++
    }
    return undefined
  }

  override _read(): void {
    this.#readRequested = true
    this.#release()
  }

  override _final(callback: Callback): void {
    if (this.#inFlight === 0 && this.#slots.length === 0) this.#end(callback)
    else this.#finalCallback = callback
  }

  /** Pushes the end and finishes the writable side, once the subclass's own output is out. */
  #end(callback: Callback): void {
    this.endOutput(() => {
      if (this.destroyed) return
      this.push(null)
      callback()
    })
  }

  /** Hands a result on: pushes it. A subclass may take results somewhere else instead. */
  protected emitResult(value: O): void {
    this.#readRequested = false
    this.push(value)
  }

  /**
   * Called once every call has settled; the end is pushed when `done` is called. A subclass that
   * holds results of its own hands them on first (and may call `done` later, once they are out).
   */
  protected endOutput(done: () => void): void {
    done()
  }

  /**
   * For a subclass that takes its items itself instead of through writes: runs `fn` on `item` as a
   * write would. A throw destroys the stream. Call it only while `hasRoom`, and `end()` the stream
   * after the last item.
   */
  protected feed(item: I): void {
    const error = this.#run(item)
    if (error !== undefined) this.destroy(error)
  }

  /** True when the stream takes another item now (the test a write passes before its callback). */
  protected get hasRoom(): boolean {
    return this.#canAccept()
  }

  /**
   * For a subclass that hands its results on somewhere other than the readable side: false holds
   * the next item (a write, or `hasRoom`) until the subclass calls `roomMade()`.
   */
  protected get outputHasRoom(): boolean {
    return true
  }

  /** For a subclass: its output made room (see `outputHasRoom`). Releases a held write, or calls `onRoom`. */
  protected roomMade(): void {
    this.#release()
  }

  /**
   * Called when room may have been made (a call settled, or the reader asked for more) and no
   * write is held. A subclass that takes its items itself takes the next ones here.
   */
  protected onRoom(): void {
    // the writes bring the items
  }

  override _destroy(error: Error | null, callback: Callback): void {
    if (this.#onAbort !== null) this.options.signal?.removeEventListener('abort', this.#onAbort)
    // Node destroys a finished stream too; only a teardown with work left aborts the calls.
    if (error !== null || this.#inFlight > 0)
      this.#controller.abort(error ?? new AbortError('The stream was destroyed'))
    callback(error)
  }

  #start(promise: PromiseLike<O | null | undefined>): void {
    this.#inFlight++
    if (this.#ordered) {
      const slot: Slot<O> = { done: false, value: undefined }
      this.#slots.push(slot)
      promise.then((value) => {
        slot.done = true
        slot.value = value
        this.#waiting++
        this.#settled()
      }, this.#onRejected)
    } else promise.then(this.#onUnorderedResult, this.#onRejected)
  }

  // Shared handlers, made once per stream: the async path allocates no closure for them per item.
  readonly #onRejected = (error: unknown): void => {
    this.#fail(error)
  }

  readonly #onUnorderedResult = (value: O | null | undefined): void => {
    if (this.destroyed) return
    if (value != null) this.emitResult(value)
    this.#settled()
  }

  #settled(): void {
    if (this.destroyed) return
    this.#inFlight--
    if (this.#ordered) {
      let head = this.#slots.peek()
      while (head?.done === true) {
        this.#slots.shift()
        this.#waiting--
        if (head.value != null) this.emitResult(head.value)
        head = this.#slots.peek()
      }
    }
    if (this.#finalCallback !== null && this.#inFlight === 0 && this.#slots.length === 0) {
      const callback = this.#finalCallback
      this.#finalCallback = null
      this.#end(callback)
      return
    }
    this.#release()
  }

  #fail(error: unknown): void {
    if (!this.destroyed) this.destroy(toError(error))
  }

  #canAccept(): boolean {
    if (this.#inFlight >= this.#concurrency || !this.outputHasRoom) return false
    if (this.readableLength + this.#waiting < this.#limit) return true
    // Full, but Node asked for more and no call is left whose result would push (and so bring
    // the next `_read`): take one more item, or nothing would ever wake this stream.
    return this.#readRequested && this.#inFlight === 0 && this.#waiting === 0
  }

  #release(): void {
    if (this.#writeCallback === null) this.onRoom()
    else if (this.#canAccept()) {
      const callback = this.#writeCallback
      this.#writeCallback = null
      callback()
    }
  }
}

/**
 * Maps each item through `fn` with at most `concurrency` calls in flight: the processors of a
 * pipeline, as a Duplex that fits anywhere in `stream.pipeline`.
 *
 * A thrown error or a rejected promise destroys the stream with that error (the pipeline engine
 * catches failures per message on top of this). Destroying the stream aborts `context.signal` of
 * the calls in flight.
 *
 * @param fn called as `fn(item, { signal })`; may return a value or a promise.
 * @param options.concurrency most calls in flight. @default 1
 * @param options.ordered emit in input order. @default true
 * @param options.highWaterMark items buffered on each side beyond those in flight. @default 16
 * @param options.signal aborting it destroys the stream with `AbortError`.
 * @example
 * await pipeline(urls, concurrentMap(async (url, { signal }) => (await fetch(url, { signal })).status,
 *   { concurrency: 8 }), sink)
 */
export function concurrentMap<I, O>(fn: MapFn<I, O>, options?: ConcurrentMapOptions): ConcurrentMap<I, O> {
  return new ConcurrentMap(fn, options)
}
