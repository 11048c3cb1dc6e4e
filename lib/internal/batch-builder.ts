/**
 * The batching rules without a stream around them: open batches by key, a count cap, an optional
 * accumulator (which may close a batch before or after an item), and a timeout per open batch that
 * starts at its first item (a timer handed on from batch to batch, see `BatchTimer`). Shared by the
 * public `batch` stream (one item per write) and the pipeline's batcher stage (an array of messages
 * per write).
 */
import { Duplex } from 'node:stream'
import { BatchItemTooLargeError, toError } from '../errors.js'

/** Why a batch was emitted. */
export type BatchTrigger = 'size' | 'timeout' | 'flush' | 'end'

/** A batch as the builder emits it. */
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

/** The rules a builder applies. */
export interface BatchRules<T, K, A> {
  size: number
  timeoutMs: number
  keyOf: ((item: T) => K) | undefined
  accumulator: BatchAccumulator<T, A> | undefined
}

class OpenBatch<T, K, A> {
  readonly items: T[] = []
  /** The timer that closes this batch at its timeout; `null` until its first item (or without a timeout). */
  timer: BatchTimer<T, K, A> | null = null
  constructor(
    readonly key: K | undefined,
    public acc: A,
  ) {}
}

/**
 * A batch's timeout. A batch that goes by size leaves its timer to the next batch to open, which
 * re-arms it with `refresh()`: one timer per batch *in a row* instead of a `setTimeout` and a
 * `clearTimeout` per batch (~1 µs a batch). A timer left over fires for no batch and does nothing,
 * and is unref'd meanwhile, so it never holds the process up.
 */
class BatchTimer<T, K, A> {
  /** The batch it closes when it fires; `null` while left over. */
  batch: OpenBatch<T, K, A> | null = null
  readonly timeout: NodeJS.Timeout

  constructor(builder: BatchBuilder<T, K, A>, timeoutMs: number) {
    this.timeout = setTimeout(() => {
      const batch = this.batch
      if (batch === null) return
      batch.timer = null
      this.batch = null
      builder.timedOut(batch, this)
    }, timeoutMs)
  }
}

/** Builds batches by the rules and hands each finished one to `emit`. */
export class BatchBuilder<T, K = unknown, A = unknown> {
  readonly #size: number
  readonly #timeoutMs: number
  readonly #keyOf: ((item: T) => K) | undefined
  readonly #accumulator: BatchAccumulator<T, A> | undefined
  readonly #emit: (batch: Batch<T, K>) => void
  /** The open batch when there is no key function. */
  #single: OpenBatch<T, K, A> | null = null
  /** Open batches by key, when there is a key function. */
  readonly #open = new Map<K, OpenBatch<T, K, A>>()
  /** The open batch the last item went to: items in a row mostly share a key, so no map lookup. */
  #last: OpenBatch<T, K, A> | null = null
  /** The timer of the last batch that went before its timeout, for the next batch to re-arm. */
  #spare: BatchTimer<T, K, A> | null = null

  constructor(rules: BatchRules<T, K, A>, emit: (batch: Batch<T, K>) => void) {
    this.#size = rules.size
    this.#timeoutMs = rules.timeoutMs
    this.#keyOf = rules.keyOf
    this.#accumulator = rules.accumulator
    this.#emit = emit
  }

  /** Number of batches open now (one per key with items waiting). */
  get openBatches(): number {
    return this.#keyOf === undefined ? (this.#single === null ? 0 : 1) : this.#open.size
  }

  /** Items in open batches now. */
  get openItems(): number {
    let n = this.#single?.items.length ?? 0
    for (const open of this.#open.values()) n += open.items.length
    return n
  }

  /** Adds an item; may emit the batch it closes (and, with an accumulator, the one before). */
  add(item: T): void {
    const keyOf = this.#keyOf
    let key: K | undefined
    let open: OpenBatch<T, K, A> | null
    if (keyOf === undefined) open = this.#single
    else {
      key = keyOf(item)
      const last = this.#last
      if (last !== null && last.key === key) open = last
      else {
        open = this.#open.get(key) ?? null
        if (open !== null) this.#last = open
      }
    }
    open ??= this.#openBatch(key)
    if (this.#accumulator !== undefined) {
      this.#addAccumulated(item, key, open, this.#accumulator)
      return
    }
    const count = open.items.push(item)
    if (count >= this.#size) this.#close(open, 'size')
    else if (count === 1) this.#arm(open)
  }

  #addAccumulated(
    item: T,
    key: K | undefined,
    first: OpenBatch<T, K, A>,
    accumulator: BatchAccumulator<T, A>,
  ): void {
    let open = first
    let step = accumulator.step(item, open.acc)
    if (step.emit === 'before') {
      if (open.items.length === 0) throw new BatchItemTooLargeError(item)
      this.#close(open, 'size')
      open = this.#openBatch(key)
      step = accumulator.step(item, open.acc)
      if (step.emit === 'before') throw new BatchItemTooLargeError(item)
    }
    open.acc = step.acc
    const count = open.items.push(item)
    if (step.emit === 'after' || count >= this.#size) this.#close(open, 'size')
    else if (count === 1) this.#arm(open)
  }

  /** Starts the timeout of `open`, at its first item. */
  #arm(open: OpenBatch<T, K, A>): void {
    if (this.#timeoutMs === Infinity) return
    const spare = this.#spare
    if (spare === null) {
      const timer = new BatchTimer(this, this.#timeoutMs)
      timer.batch = open
      open.timer = timer
      return
    }
    this.#spare = null
    spare.batch = open
    open.timer = spare
    spare.timeout.ref()
    spare.timeout.refresh()
  }

  /** @internal Called by a batch's timer when it fires. */
  timedOut(open: OpenBatch<T, K, A>, timer: BatchTimer<T, K, A>): void {
    // Fired: `refresh()` re-arms it for the next batch as well as a left-over one.
    this.#spare ??= timer
    this.#close(open, 'timeout')
  }

  /** Emits the open batch of `key` now, if any. */
  flushKey(key: K | undefined, trigger: BatchTrigger): void {
    const open = this.#keyOf === undefined ? this.#single : this.#open.get(key as K)
    if (open != null) this.#close(open, trigger)
  }

  /** Emits every open batch now. */
  flushAll(trigger: BatchTrigger): void {
    if (this.#single !== null) this.#close(this.#single, trigger)
    for (const open of [...this.#open.values()]) this.#close(open, trigger)
    this.#dropSpare()
  }

  /** Cancels every timer and forgets the open batches (on teardown). */
  discard(): void {
    if (this.#single?.timer != null) clearTimeout(this.#single.timer.timeout)
    for (const open of this.#open.values()) if (open.timer !== null) clearTimeout(open.timer.timeout)
    this.#dropSpare()
    this.#single = null
    this.#open.clear()
    this.#last = null
  }

  #dropSpare(): void {
    if (this.#spare === null) return
    clearTimeout(this.#spare.timeout)
    this.#spare = null
  }

  #openBatch(key: K | undefined): OpenBatch<T, K, A> {
    const open = new OpenBatch<T, K, A>(
      key,
      this.#accumulator === undefined ? (undefined as A) : this.#accumulator.init(),
    )
    if (this.#keyOf === undefined) this.#single = open
    else {
      this.#open.set(key as K, open)
      this.#last = open
    }
    return open
  }

  #close(open: OpenBatch<T, K, A>, trigger: BatchTrigger): void {
    const timer = open.timer
    if (timer !== null) {
      open.timer = null
      timer.batch = null
      // Kept, armed but unref'd, for the next batch; one spare is enough (the rest are cleared).
      if (this.#spare === null) {
        timer.timeout.unref()
        this.#spare = timer
      } else clearTimeout(timer.timeout)
    }
    if (this.#keyOf === undefined) this.#single = null
    else {
      this.#open.delete(open.key as K)
      if (this.#last === open) this.#last = null
    }
    if (open.items.length === 0) return
    this.#emit({ items: open.items, key: open.key, trigger })
  }
}

type Callback = (error?: Error | null) => void

/**
 * An object-mode Duplex around a `BatchBuilder`: `accept` feeds each written chunk to the builder,
 * and a write is held while the readable side is full, so a stalled consumer stops the writer.
 * The input's end emits every open batch (trigger `'end'`).
 */
export abstract class BatchingDuplex<C, T, K, A> extends Duplex {
  protected readonly builder: BatchBuilder<T, K, A>
  #writeCallback: Callback | null = null
  /** `_read` was called and nothing was pushed since: a full readable side must not hold a write. */
  #readRequested = false

  constructor(rules: BatchRules<T, K, A>, highWaterMark: number) {
    super({ objectMode: true, highWaterMark })
    this.builder = new BatchBuilder(rules, (batch) => {
      this.#readRequested = false
      this.push(this.wrapBatch(batch))
    })
  }

  /** Feeds one written chunk to `this.builder`. */
  protected abstract accept(chunk: C): void

  /** What is pushed for a finished batch. */
  protected abstract wrapBatch(batch: Batch<T, K>): unknown

  /** Pushes something other than a batch downstream (e.g. an item no batch can take). */
  protected pushOther(unit: unknown): void {
    this.#readRequested = false
    this.push(unit)
  }

  override _write(chunk: C, _encoding: BufferEncoding, callback: Callback): void {
    try {
      this.accept(chunk)
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
    this.builder.flushAll('end')
    this.push(null)
    callback()
  }

  override _destroy(error: Error | null, callback: Callback): void {
    this.builder.discard()
    callback(error)
  }
}
