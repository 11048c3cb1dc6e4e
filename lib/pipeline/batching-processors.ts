/**
 * The processors of a pipeline with one batcher lane (one batcher, not partitioned, processors not
 * partitioned): a `concurrentMap` over the processor stage whose results go straight into the
 * lane's batches, and whose readable side carries the finished batches. It does what processors →
 * batcher stage do, without the stream hop between them (a `push`, a `write` and their callbacks
 * per array of `maxDemand` messages).
 *
 * Given the intake (`from`), it also takes its arrays from it itself, whenever it has room for one,
 * instead of having them written: no stream hop between the intake and the processors either. Its
 * writable side is then unused, and ended once the intake is exhausted.
 *
 * Buffer bound: `highWaterMark` arrays on the writable side (none when it takes from the intake),
 * the calls in flight, one open batch per batch key, and `highWaterMark` batches on the readable
 * side: a write (or a take) is held while the readable side is full, as in `concurrentMap`.
 */
import { BatchBuilder, type Batch } from '../internal/batch-builder.js'
import type { Message } from '../message.js'
import { ConcurrentMap, type MapFn } from '../streams/concurrent-map.js'
import { BatcherLane, batcherRules, type BatcherLaneOptions } from './batcher-stage.js'
import type { Intake } from './intake.js'

/** What the processors take their arrays from: the intake. */
export type ChunkSource = Pick<Intake, 'takeBy' | 'takeChunk' | 'exhausted'>

/** See the module comment. */
export class BatchingProcessors extends ConcurrentMap<Message[], Message[]> {
  readonly #builder: BatchBuilder<Message>
  readonly #lane: BatcherLane
  readonly #from: ChunkSource | undefined
  #taking = false
  /** Wake-ups that came while taking: each one asks for another round once the current one is done. */
  #wokenWhileTaking = 0

  /**
   * @param processChunk the processor stage (`processorStage`).
   * @param concurrency processors running at once.
   * @param lane the batcher lane's rules; its `highWaterMark` bounds both sides.
   * @param from the intake to take arrays from; without it, arrays are written to the stream.
   */
  constructor(
    processChunk: MapFn<Message[], Message[]>,
    concurrency: number,
    lane: BatcherLaneOptions,
    from?: ChunkSource,
  ) {
    super(processChunk, { concurrency, ordered: false, highWaterMark: lane.highWaterMark })
    this.#builder = new BatchBuilder(batcherRules(lane), (batch: Batch<Message>) => {
      this.pushOut(this.#lane.wrap(batch))
    })
    this.#lane = new BatcherLane(lane, this.#builder, (unit) => {
      this.pushOut(unit)
    })
    this.#from = from
    from?.takeBy(() => {
      this.#take()
    })
  }

  protected override emitResult(successful: Message[]): void {
    this.#lane.accept(successful)
  }

  protected override beforeEnd(): void {
    this.#builder.flushAll('end')
  }

  protected override onRoom(): void {
    if (this.#from !== undefined) this.#take()
  }

  /** Takes arrays from the intake while there is room; ends the writable side once it is exhausted. */
  #take(): void {
    const from = this.#from as ChunkSource
    // A handler or an ack may wake this again from inside `feed`: the loop below goes on instead.
    if (this.#taking) {
      this.#wokenWhileTaking++
      return
    }
    this.#taking = true
    try {
      let woken: number
      do {
        woken = this.#wokenWhileTaking
        while (!this.destroyed && !this.writableEnded && this.hasRoom) {
          const chunk = from.takeChunk()
          if (chunk === null) {
            if (from.exhausted) this.end()
            break
          }
          this.feed(chunk)
        }
      } while (this.#wokenWhileTaking !== woken)
    } finally {
      this.#taking = false
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#builder.discard()
    super._destroy(error, callback)
  }
}
