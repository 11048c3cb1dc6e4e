/**
 * The batcher stage: one per batcher lane (one per batcher, or one per partition of a partitioned
 * batcher). It takes arrays of messages and builds batches per `message.batchKey` by the batcher's
 * size (a count or an accumulator) and timeout. A message with `batchMode: 'flush'` has its batch
 * emitted as soon as the array it came in is placed, as Broadway's batcher does.
 *
 * `BatcherLane` is that work on a batch builder; `BatcherStage` runs it as a stream of its own, and
 * `SingleLane` inside the processors' stream (one lane, processors not partitioned).
 *
 * Buffer bound of `BatcherStage`: `highWaterMark` arrays on the writable side, one open batch per batch key,
 * `highWaterMark` batches on the readable side (see `BatchingDuplex`).
 */
import {
  BatchingDuplex,
  type Batch,
  type BatchAccumulator,
  type BatchBuilder,
  type BatchRules,
  type BatchTrigger,
} from '../internal/batch-builder.js'
import type { Message } from '../message.js'
import type { BatcherCounters } from './metrics.js'
import { channels } from './telemetry.js'

/** What `handleBatch` receives besides the messages. Broadway's `BatchInfo`. */
export interface BatchInfo {
  /** The batcher's name. */
  readonly batcher: string
  /** The batch key the messages share. */
  readonly batchKey: unknown
  /** The batcher partition (0 unless the batcher is partitioned). */
  readonly partition: number
  /** Messages in the batch. */
  readonly size: number
  /** Why the batch was emitted: full (`size`), `timeout`, `flush` (a flush-mode message), or `end` (the input ended: shutdown). */
  readonly trigger: BatchTrigger
}

/** A batch on its way to the batch processors. */
export interface PendingBatch {
  readonly messages: Message[]
  readonly info: BatchInfo
  /** Messages the batcher could not place (failed already): they skip `handleBatch` and are acked failed. */
  readonly rejected: boolean
}

/** Rules of one batcher lane. */
export interface BatcherLaneOptions {
  readonly pipeline: string
  readonly batcher: string
  readonly partition: number
  readonly batchSize: number | BatchAccumulator<never>
  readonly batchTimeoutMs: number
  readonly highWaterMark: number
  readonly counters: BatcherCounters
}

function batchKeyOf(message: Message): unknown {
  return message.batchKey
}

/** The batch builder's rules for a lane's options. */
export function batcherRules(options: BatcherLaneOptions): BatchRules<Message, unknown, unknown> {
  const size = options.batchSize
  return {
    size: typeof size === 'number' ? size : Infinity,
    timeoutMs: options.batchTimeoutMs,
    keyOf: batchKeyOf,
    accumulator: typeof size === 'number' ? undefined : size,
  }
}

/**
 * A batcher lane's work on its builder, whatever stream it runs in: places arrays of messages
 * (flush-mode messages emit their batch), fails a message the size rule rejects, makes the
 * `PendingBatch` of each finished batch, and keeps the lane's counters and telemetry.
 */
export class BatcherLane {
  readonly #options: BatcherLaneOptions
  readonly #builder: BatchBuilder<Message>
  readonly #pushOther: (unit: PendingBatch) => void

  /** @param pushOther hands on a batch of one rejected message (not from the builder). */
  constructor(
    options: BatcherLaneOptions,
    builder: BatchBuilder<Message>,
    pushOther: (unit: PendingBatch) => void,
  ) {
    this.#options = options
    this.#builder = builder
    this.#pushOther = pushOther
  }

  /** Places an array of messages in their batches. */
  accept(chunk: Message[]): void {
    const o = this.#options
    o.counters.inBatches += chunk.length
    const traced = channels.batcherStart.hasSubscribers || channels.batcherStop.hasSubscribers
    const t0 = traced ? performance.now() : 0
    if (traced) channels.batcherStart.publish({ pipeline: o.pipeline, batcher: o.batcher, messages: chunk })
    const builder = this.#builder
    let flushKeys: unknown[] | undefined
    for (const message of chunk) {
      try {
        builder.add(message)
      } catch (error) {
        // A message over the accumulator's cap on its own (or whose size rule throws) fails alone.
        this.#reject(message.failed(error))
        continue
      }
      if (message.batchMode === 'flush') (flushKeys ??= []).push(message.batchKey)
    }
    if (flushKeys !== undefined) for (const key of flushKeys) builder.flushKey(key, 'flush')
    if (traced)
      channels.batcherStop.publish({
        pipeline: o.pipeline,
        batcher: o.batcher,
        messages: chunk,
        duration: performance.now() - t0,
      })
  }

  #reject(message: Message): void {
    const o = this.#options
    o.counters.inBatches--
    const info: BatchInfo = {
      batcher: o.batcher,
      batchKey: message.batchKey,
      partition: o.partition,
      size: 1,
      trigger: 'size',
    }
    this.#pushOther({ messages: [message], info, rejected: true })
  }

  /** The `PendingBatch` of a finished batch; counts it. */
  wrap(batch: Batch<Message>): PendingBatch {
    const o = this.#options
    const size = batch.items.length
    const counters = o.counters
    counters.inBatches -= size
    counters.batches++
    counters.messages += size
    if (size > counters.maxSize) counters.maxSize = size
    counters.triggers[batch.trigger]++
    return {
      messages: batch.items,
      info: { batcher: o.batcher, batchKey: batch.key, partition: o.partition, size, trigger: batch.trigger },
      rejected: false,
    }
  }
}

/** A batcher lane as a stream of its own: arrays of messages in, `PendingBatch`es out. */
export class BatcherStage extends BatchingDuplex<Message[], Message, unknown, unknown> {
  readonly #lane: BatcherLane

  constructor(options: BatcherLaneOptions) {
    super(batcherRules(options), options.highWaterMark)
    this.#lane = new BatcherLane(options, this.builder, (unit) => {
      this.pushOther(unit)
    })
  }

  protected accept(chunk: Message[]): void {
    this.#lane.accept(chunk)
  }

  protected wrapBatch(batch: Batch<Message>): PendingBatch {
    return this.#lane.wrap(batch)
  }
}
