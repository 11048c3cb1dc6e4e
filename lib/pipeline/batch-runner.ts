/**
 * A batcher lane's batch processors without a stream around them: at most `concurrency` batches in
 * `run` at once, the others waiting in arrival order. `SingleLane` hands its finished batches to one,
 * so that a batch goes from the batcher to `handleBatch` with no `push`, `write` and their callbacks,
 * and no batches buffered on two stream sides.
 *
 * Buffer bound: the runner itself refuses nothing; its owner stops making batches while `waiting`
 * is at its limit (`SingleLane.outputHasRoom`), and starts again on `settled`.
 */
import { toError } from '../errors.js'
import { Fifo } from '../internal/fifo.js'
import type { PendingBatch } from './batcher-stage.js'

/** What runs one batch: the batch processor stage. `null` when it finished at once. */
export type RunBatch = (batch: PendingBatch) => null | PromiseLike<null>

/** What the runner tells its owner. */
export interface BatchRunnerHooks {
  /** A batch that ran asynchronously settled: there is room for another. */
  readonly settled: () => void
  /** `run` threw or rejected (the batch processor stage catches the handlers' errors: a bug). */
  readonly failed: (error: Error) => void
}

/** See the module comment. */
export class BatchRunner {
  readonly #run: RunBatch
  readonly #concurrency: number
  readonly #hooks: BatchRunnerHooks
  readonly #waiting = new Fifo<PendingBatch>()
  #inFlight = 0
  /** Set while `#startWaiting` runs: a batch added by a synchronous `run` is started by that loop. */
  #starting = false
  #whenIdle: (() => void) | null = null

  /**
   * @param run the batch processor stage.
   * @param concurrency most batches in `run` at once (the batcher's `concurrency`).
   */
  constructor(run: RunBatch, concurrency: number, hooks: BatchRunnerHooks) {
    this.#run = run
    this.#concurrency = concurrency
    this.#hooks = hooks
  }

  /** Batches waiting for a batch processor. */
  get waiting(): number {
    return this.#waiting.length
  }

  /** Batches in `run` now. */
  get inFlight(): number {
    return this.#inFlight
  }

  /** Runs `batch` now if a batch processor is free, else once one is. */
  add(batch: PendingBatch): void {
    this.#waiting.push(batch)
    this.#startWaiting()
  }

  /** Calls `callback` once no batch is running or waiting (at once if none is). */
  whenIdle(callback: () => void): void {
    this.#whenIdle = callback
    this.#checkIdle()
  }

  #startWaiting(): void {
    if (this.#starting) return
    this.#starting = true
    try {
      while (this.#inFlight < this.#concurrency && this.#waiting.length > 0) {
        const batch = this.#waiting.shift() as PendingBatch
        let result: null | PromiseLike<null>
        try {
          result = this.#run(batch)
        } catch (error) {
          this.#hooks.failed(toError(error))
          return
        }
        if (result === null) continue
        this.#inFlight++
        result.then(this.#onSettled, this.#onRejected)
      }
    } finally {
      this.#starting = false
    }
    this.#checkIdle()
  }

  // Made once per runner: no closure per batch.
  readonly #onSettled = (): void => {
    this.#inFlight--
    this.#startWaiting()
    this.#hooks.settled()
  }

  readonly #onRejected = (error: unknown): void => {
    this.#inFlight--
    this.#hooks.failed(toError(error))
  }

  #checkIdle(): void {
    const callback = this.#whenIdle
    if (callback === null || this.#inFlight > 0 || this.#waiting.length > 0) return
    this.#whenIdle = null
    callback()
  }
}
