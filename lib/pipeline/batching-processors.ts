/**
 * The processors of a pipeline with one batcher lane (one batcher, not partitioned, processors not
 * partitioned): a `concurrentMap` over the processor stage whose results go straight into the
 * lane's batches, and whose readable side carries the finished batches. It does what processors →
 * batcher stage do, without the stream hop between them (a `push`, a `write` and their callbacks
 * per array of `maxDemand` messages).
 *
 * Buffer bound: `highWaterMark` arrays on the writable side, the calls in flight, one open batch per
 * batch key, and `highWaterMark` batches on the readable side: a write is held while the readable
 * side is full, as in `concurrentMap`.
 */
import { BatchBuilder, type Batch } from '../internal/batch-builder.js'
import type { Message } from '../message.js'
import { ConcurrentMap, type MapFn } from '../streams/concurrent-map.js'
import { BatcherLane, batcherRules, type BatcherLaneOptions } from './batcher-stage.js'

/** See the module comment. */
export class BatchingProcessors extends ConcurrentMap<Message[], Message[]> {
  readonly #builder: BatchBuilder<Message>
  readonly #lane: BatcherLane

  /**
   * @param processChunk the processor stage (`processorStage`).
   * @param concurrency processors running at once.
   * @param lane the batcher lane's rules; its `highWaterMark` bounds both sides.
   */
  constructor(processChunk: MapFn<Message[], Message[]>, concurrency: number, lane: BatcherLaneOptions) {
    super(processChunk, { concurrency, ordered: false, highWaterMark: lane.highWaterMark })
    this.#builder = new BatchBuilder(batcherRules(lane), (batch: Batch<Message>) => {
      this.pushOut(this.#lane.wrap(batch))
    })
    this.#lane = new BatcherLane(lane, this.#builder, (unit) => {
      this.pushOut(unit)
    })
  }

  protected override emitResult(successful: Message[]): void {
    this.#lane.accept(successful)
  }

  protected override beforeEnd(): void {
    this.#builder.flushAll('end')
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#builder.discard()
    super._destroy(error, callback)
  }
}
