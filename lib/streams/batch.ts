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
import { z } from 'zod'
import {
  BatchingDuplex,
  type Batch,
  type BatchAccumulator,
  type BatchRules,
  type BatchStep,
  type BatchTrigger,
} from '../internal/batch-builder.js'
import { finiteNumber, func, integer, parseOptions, type ResolvedOptions } from '../options.js'

export type { Batch, BatchAccumulator, BatchStep, BatchTrigger }

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

/** The stream `batch` returns; see `batch`. */
export class Batcher<T, K = unknown, A = unknown> extends BatchingDuplex<T, T, K, A> {
  /** The validated options, frozen. */
  readonly options: ResolvedOptions<typeof batchOptionsSchema>

  constructor(options?: BatchOptions<T, K, A>) {
    const resolved = parseOptions(batchOptionsSchema, options)
    const accumulator = resolved.accumulator as BatchAccumulator<T, A> | undefined
    const rules: BatchRules<T, K, A> = {
      size: resolved.size ?? (accumulator === undefined ? 100 : Infinity),
      timeoutMs: resolved.timeoutMs,
      keyOf: resolved.key as ((item: T) => K) | undefined,
      accumulator,
    }
    super(rules, resolved.highWaterMark)
    this.options = resolved
  }

  /** Number of batches open now (one per key with items waiting). */
  get openBatches(): number {
    return this.builder.openBatches
  }

  /** Emits every open batch now, with trigger `'flush'`. */
  flush(): void {
    this.builder.flushAll('flush')
  }

  protected accept(item: T): void {
    this.builder.add(item)
  }

  protected wrapBatch(batch: Batch<T, K>): Batch<T, K> {
    return batch
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
