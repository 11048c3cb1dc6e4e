/**
 * The whole way of a message through a pipeline with one batcher lane (one batcher, not
 * partitioned, processors not partitioned), as one stream: a `concurrentMap` over the processor
 * stage whose results go straight into the lane's batches, whose finished batches go straight to
 * the batch processors (a `BatchRunner`), which ack them. It does what processors → batcher stage →
 * batch processors do, without the two stream hops between them (a `push`, a `write` and their
 * callbacks per array of `maxDemand` messages, and per batch).
 *
 * Given the intake (`from`), it also takes its arrays from it itself, whenever it has room for one,
 * instead of having them written: no stream hop between the intake and the processors either. Its
 * writable side is then unused, and ended once the intake is exhausted. Its readable side carries
 * nothing: it ends once the last batch is acked.
 *
 * Buffer bound: `highWaterMark` arrays on the writable side (none when it takes from the intake),
 * the processor calls in flight, one open batch per batch key, `highWaterMark` batches waiting for a
 * batch processor and the batch processors' own. An array is taken (or a write let through) only
 * while fewer than `highWaterMark` batches wait, so a slow `handleBatch` stops the processors, and
 * they the intake.
 */
import { BatchBuilder, type Batch } from '../internal/batch-builder.js'
import type { Message } from '../message.js'
import { ConcurrentMap, type MapFn } from '../streams/concurrent-map.js'
import { BatchRunner, type RunBatch } from './batch-runner.js'
import { BatcherLane, batcherRules, type BatcherLaneOptions } from './batcher-stage.js'
import type { Intake } from './intake.js'

/** What the processors take their arrays from: the intake. */
export type ChunkSource = Pick<Intake, 'takeBy' | 'takeChunk' | 'exhausted'>

/** The lane's batch processors. */
export interface BatchProcessors {
  /** The batch processor stage (`batchProcessorStage`): `handleBatch`, then the acks. */
  readonly run: RunBatch
  /** Batches in `run` at once (the batcher's `concurrency`). */
  readonly concurrency: number
}

/** See the module comment. */
export class SingleLane extends ConcurrentMap<Message[], Message[]> {
  readonly #builder: BatchBuilder<Message>
  readonly #lane: BatcherLane
  readonly #runner: BatchRunner
  readonly #waitLimit: number
  readonly #from: ChunkSource | undefined
  #taking = false
  /** Wake-ups that came while taking: each one asks for another round once the current one is done. */
  #wokenWhileTaking = 0

  /**
   * @param processChunk the processor stage (`processorStage`).
   * @param concurrency processors running at once.
   * @param lane the batcher lane's rules; its `highWaterMark` bounds the arrays written and the
   *   batches waiting.
   * @param batchProcessors what runs each batch, and how many at once.
   * @param from the intake to take arrays from; without it, arrays are written to the stream.
   */
  constructor(
    processChunk: MapFn<Message[], Message[]>,
    concurrency: number,
    lane: BatcherLaneOptions,
    batchProcessors: BatchProcessors,
    from?: ChunkSource,
  ) {
    super(processChunk, { concurrency, ordered: false, highWaterMark: lane.highWaterMark })
    this.#waitLimit = lane.highWaterMark
    this.#runner = new BatchRunner(batchProcessors.run, batchProcessors.concurrency, {
      settled: () => {
        if (!this.destroyed) this.roomMade()
      },
      failed: (error) => {
        this.destroy(error)
      },
    })
    this.#builder = new BatchBuilder(batcherRules(lane), (batch: Batch<Message>) => {
      this.#runner.add(this.#lane.wrap(batch))
    })
    this.#lane = new BatcherLane(lane, this.#builder, (unit) => {
      this.#runner.add(unit)
    })
    this.#from = from
    from?.takeBy(() => {
      this.#take()
    })
  }

  protected override emitResult(successful: Message[]): void {
    this.#lane.accept(successful)
  }

  protected override get outputHasRoom(): boolean {
    return this.#runner.waiting < this.#waitLimit
  }

  protected override endOutput(done: () => void): void {
    this.#builder.flushAll('end')
    this.#runner.whenIdle(done)
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
