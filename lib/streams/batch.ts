/**
 * `batch`: an object-mode Duplex that groups items into batches by count, by a custom size rule
 * (an accumulator) and by key, with Broadway's batcher contract: the timer starts at the first item
 * of a batch and is cancelled when the batch goes; one open batch (and one timer) per key; partial
 * batches are flushed at end of stream; each batch says why it was emitted.
 *
 * Buffer bound: `highWaterMark` items wait on the writable side; each open batch holds fewer than
 * `size` items (or the accumulator's cap), one open batch per key; `highWaterMark` batches wait on the
 * readable side, one more when an accumulator closes two batches in one write (`'before'` then
 * `'after'`), and the batches whose timers fire meanwhile (at most one per open key). A `write()` is
 * held while the readable side is full, so a stalled consumer stops the source: without `key`, the
 * stream holds at most `highWaterMark + size × (highWaterMark + 1)` items (`size` being the most
 * items in a batch); each extra key adds at most `size - 1`.
 *
 * Hot path: one array push per item, one timer per batch (never per item); without `key`, no map
 * lookup.
 */
import { Duplex } from 'node:stream'
import { z } from 'zod'
import { BatchItemTooLargeError, toError } from '../errors.js'
import { finiteNumber, func, integer, parseOptions, type ResolvedOptions } from '../options.js'

/** Why a batch was emitted. */
export type BatchTrigger = 'size' | 'timeout' | 'flush' | 'end'

/** A batch as `batch` emits it. */
export interface Batch<T, K = unknown> {
  /** The items, in arrival order. */
  items: T[]
  /** The key the items share (`undefined` without a `key` option). */
  key: K | undefined
  /** Why the batch was emitted: it filled up, its timer fired, `flush()` was called, or the input ended. */
  trigger: BatchTrigger
}

/** What an accumulator's `step` returns: the new accumulator and whether to close the batch. */
export interface BatchStep<A> {
  /**
   * `'before'`: close the open batch without this item, then start a new one with it (the item is
   * stepped again against `init()`). `'after'`: add the item, then close the batch.
   */
  emit?: 'before' | 'after' | undefined
  acc: A
}

/**
 * A custom size rule, in the spirit of Broadway's `batch_size: {init_acc, fun}`. Because it can
 * close a batch *before* the item that would overflow it, a cap it enforces is never exceeded.
 */
export interface BatchAccumulator<T, A = unknown> {
  /** The accumulator of a new, empty batch. */
  init(): A
  /** Folds one item into the accumulator and says whether to close the batch. */
  step(item: T, acc: A): BatchStep<A>
}

/** Schema of `batch`'s options; the docs table and the type come from it. */
export const batchOptionsSchema = z.strictObject({
  size: integer(1, { allowInfinity: true })
    .optional()
    .meta({ description: 'Most items in a batch.', default: '100 (no count cap with an `accumulator`)' }),
  // setTimeout fires a longer delay after 1 ms, so a larger timeoutMs would time every batch out at once.
  timeoutMs: integer(1, { max: 2 ** 31 - 1, allowInfinity: true })
    .default(1000)
    .meta({ description: 'Time from the first item of a batch to its emission when it does not fill up.' }),
  key: func<(item: never) => unknown>()
    .optional()
    .meta({ description: 'Batch key of an item: one open batch and one timer per key.' }),
  accumulator: z
    .custom<BatchAccumulator<never>>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        typeof (v as BatchAccumulator<never>).init === 'function' &&
        typeof (v as BatchAccumulator<never>).step === 'function',
      { error: 'must be an object with `init()` and `step(item, acc)` functions' },
    )
    .optional()
    .meta({
      description: 'Custom size rule (`{ init, step }`) that may close a batch before or after an item.',
    }),
  highWaterMark: integer(1)
    .default(16)
    .meta({ description: 'Items buffered on the writable side; batches buffered on the readable side.' }),
})

/** Options of `batch`, typed by item, key and accumulator. */
export type BatchOptions<T = unknown, K = unknown, A = unknown> = Omit<
  z.input<typeof batchOptionsSchema>,
  'key' | 'accumulator'
> & {
  key?: (item: T) => K
  accumulator?: BatchAccumulator<T, A>
}

type Callback = (error?: Error | null) => void

class OpenBatch<T, K, A> {
  readonly items: T[] = []
  timer: NodeJS.Timeout | null = null
  constructor(
    readonly key: K | undefined,
    public acc: A,
  ) {}
}

/** The stream `batch` returns; see `batch`. */
export class Batcher<T, K = unknown, A = unknown> extends Duplex {
  /** The validated options, frozen. */
  readonly options: ResolvedOptions<typeof batchOptionsSchema>
  readonly #size: number
  readonly #timeoutMs: number
  readonly #keyOf: ((item: T) => K) | undefined
  readonly #accumulator: BatchAccumulator<T, A> | undefined
  /** The open batch when there is no `key` option. */
  #single: OpenBatch<T, K, A> | null = null
  /** Open batches by key, when there is a `key` option. */
  readonly #open = new Map<K, OpenBatch<T, K, A>>()
  #writeCallback: Callback | null = null
  /** `_read` was called and nothing was pushed since: a full readable side must not hold a write. */
  #readRequested = false

  constructor(options?: BatchOptions<T, K, A>) {
    const resolved = parseOptions(batchOptionsSchema, options)
    super({
      objectMode: true,
      highWaterMark: resolved.highWaterMark,
    })
    this.options = resolved
    this.#accumulator = resolved.accumulator as BatchAccumulator<T, A> | undefined
    this.#size = resolved.size ?? (this.#accumulator === undefined ? 100 : Infinity)
    this.#timeoutMs = resolved.timeoutMs
    this.#keyOf = resolved.key as ((item: T) => K) | undefined
  }

  /** Number of batches open now (one per key with items waiting). */
  get openBatches(): number {
    return this.#keyOf === undefined ? (this.#single === null ? 0 : 1) : this.#open.size
  }

  /** Emits every open batch now, with trigger `'flush'`. */
  flush(): void {
    this.#emitAll('flush')
  }

  override _write(item: T, _encoding: BufferEncoding, callback: Callback): void {
    try {
      this.#add(item)
    } catch (error) {
      callback(toError(error))
      return
    }
    if (this.#readRequested || this.readableLength < this.readableHighWaterMark) callback()
    else this.#writeCallback = callback
  }

  override _read(): void {
    this.#readRequested = true
    const callback = this.#writeCallback
    if (callback !== null) {
      this.#writeCallback = null
      callback()
    }
  }

  override _final(callback: Callback): void {
    this.#emitAll('end')
    this.push(null)
    callback()
  }

  override _destroy(error: Error | null, callback: Callback): void {
    if (this.#single?.timer != null) clearTimeout(this.#single.timer)
    for (const open of this.#open.values()) if (open.timer !== null) clearTimeout(open.timer)
    this.#single = null
    this.#open.clear()
    callback(error)
  }

  #add(item: T): void {
    const keyOf = this.#keyOf
    const key = keyOf === undefined ? undefined : keyOf(item)
    let open = keyOf === undefined ? this.#single : (this.#open.get(key as K) ?? null)
    open ??= this.#openBatch(key)
    const accumulator = this.#accumulator
    let close = false
    if (accumulator !== undefined) {
      let step = accumulator.step(item, open.acc)
      if (step.emit === 'before') {
        if (open.items.length === 0) throw new BatchItemTooLargeError(item)
        this.#emit(open, 'size')
        open = this.#openBatch(key)
        step = accumulator.step(item, open.acc)
        if (step.emit === 'before') throw new BatchItemTooLargeError(item)
      }
      open.acc = step.acc
      close = step.emit === 'after'
    }
    const items = open.items
    items.push(item)
    if (close || items.length >= this.#size) this.#emit(open, 'size')
    else if (items.length === 1 && this.#timeoutMs !== Infinity) {
      const batch = open
      open.timer = setTimeout(() => {
        batch.timer = null
        this.#emit(batch, 'timeout')
      }, this.#timeoutMs)
    }
  }

  #openBatch(key: K | undefined): OpenBatch<T, K, A> {
    const open = new OpenBatch<T, K, A>(
      key,
      this.#accumulator === undefined ? (undefined as A) : this.#accumulator.init(),
    )
    if (this.#keyOf === undefined) this.#single = open
    else this.#open.set(key as K, open)
    return open
  }

  #emit(open: OpenBatch<T, K, A>, trigger: BatchTrigger): void {
    if (open.timer !== null) {
      clearTimeout(open.timer)
      open.timer = null
    }
    if (this.#keyOf === undefined) this.#single = null
    else this.#open.delete(open.key as K)
    if (open.items.length === 0) return
    const batch: Batch<T, K> = { items: open.items, key: open.key, trigger }
    this.#readRequested = false
    this.push(batch)
  }

  #emitAll(trigger: BatchTrigger): void {
    if (this.#single !== null) this.#emit(this.#single, trigger)
    for (const open of [...this.#open.values()]) this.#emit(open, trigger)
  }
}

/**
 * Groups items into batches `{ items, key, trigger }` by count (`size`), by time (`timeoutMs`
 * from the first item of a batch), by key, or by a custom size rule (`accumulator`).
 *
 * @param options.size most items in a batch. @default 100 (no count cap with an `accumulator`)
 * @param options.timeoutMs time from a batch's first item to its emission. @default 1000
 * @param options.key batch key of an item; one open batch and one timer per key.
 * @param options.accumulator custom size rule `{ init, step }`; see `sizeLimit`.
 * @param options.highWaterMark items buffered on the writable side, batches on the readable side. @default 16
 * @example
 * await pipeline(records, batch({ size: 500, timeoutMs: 1000 }), insertEachBatch)
 */
export function batch<T, K = unknown, A = unknown>(options?: BatchOptions<T, K, A>): Batcher<T, K, A> {
  return new Batcher(options)
}

/**
 * An accumulator that caps the sum of `sizeOf(item)` over a batch at `max`: a hard cap, never
 * exceeded (an item that would overflow the batch starts the next one). An item larger than `max`
 * on its own fails the stream with `BatchItemTooLargeError`.
 *
 * @param max the cap, e.g. a byte limit of the sink.
 * @param sizeOf the size of one item, e.g. `(r) => Buffer.byteLength(JSON.stringify(r))`.
 * @example
 * batch({ accumulator: sizeLimit(1_000_000, (line: string) => Buffer.byteLength(line) + 1) })
 */
export function sizeLimit<T>(max: number, sizeOf: (item: T) => number): BatchAccumulator<T, number> {
  parseOptions(z.strictObject({ max: finiteNumber(0), sizeOf: func() }), { max, sizeOf }, 'sizeLimit')
  return {
    init: () => 0,
    step(item, total) {
      const next = total + sizeOf(item)
      if (next > max) return { emit: 'before', acc: total }
      return { emit: next === max ? 'after' : undefined, acc: next }
    },
  }
}
