/**
 * Runs a pipeline's producers: starts `concurrency` of them, feeds their streams to the intake,
 * restarts one that crashes (at most `maxRestarts` within `restartWindowMs`, and only from a
 * factory), and calls their shutdown hooks: `prepareForDraining` when the pipeline stops taking
 * messages, `close` after the last ack.
 */
import { Readable, finished } from 'node:stream'
import { ProducerRestartsExhaustedError, toError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Intake } from './intake.js'
import type { PipelineMetrics } from './metrics.js'
import { toProducer, type Producer, type ProducerSource } from './producer.js'
import { channels, logEvents } from './telemetry.js'

/** What the supervisor needs. */
export interface SupervisorOptions {
  readonly pipeline: string
  readonly source: ProducerSource
  readonly concurrency: number
  readonly maxRestarts: number
  readonly restartWindowMs: number
  readonly intake: Intake
  readonly logger: Logger
  readonly metrics: PipelineMetrics
  /** Restarts are exhausted: the pipeline should stop. */
  readonly onFatal: (error: Error) => void
  /** Every producer has ended: the pipeline has nothing more to take. */
  readonly onAllEnded: () => void
}

interface Slot {
  readonly index: number
  producer: Producer | null
}

/** See the module comment. */
export class ProducerSupervisor {
  readonly #o: SupervisorOptions
  readonly #slots: Slot[] = []
  /** Producers ever started, to close them all at the end. */
  readonly #started: Producer[] = []
  readonly #restarts: number[] = []
  #running = 0
  #launching = 0
  #draining = false
  #closed = false

  constructor(options: SupervisorOptions) {
    this.#o = options
  }

  /** Starts every producer; rejects if one cannot be created. */
  async start(): Promise<void> {
    for (let index = 0; index < this.#o.concurrency; index++) this.#slots.push({ index, producer: null })
    await Promise.all(this.#slots.map((slot) => this.#launch(slot)))
  }

  /** Stops taking messages: detaches the streams and calls `prepareForDraining` on each producer. */
  async drain(): Promise<void> {
    this.#draining = true
    const hooks: PromiseLike<void>[] = []
    for (const slot of this.#slots) {
      const producer = slot.producer
      if (producer === null) continue
      this.#o.intake.detach(producer.stream)
      try {
        const result = producer.prepareForDraining?.()
        if (result !== undefined) hooks.push(result)
      } catch (error) {
        this.#hookThrew('prepareForDraining', error)
      }
    }
    await Promise.all(
      hooks.map((hook) =>
        Promise.resolve(hook).then(undefined, (error: unknown) => {
          this.#hookThrew('prepareForDraining', error)
        }),
      ),
    )
  }

  /** Calls `close` on every producer ever started, then destroys streams that are still open. */
  async close(): Promise<void> {
    this.#draining = true
    this.#closed = true
    await Promise.all(this.#started.map((producer) => this.#closeOne(producer)))
  }

  async #closeOne(producer: Producer): Promise<void> {
    try {
      await producer.close?.()
    } catch (error) {
      this.#hookThrew('close', error)
    }
    if (!producer.stream.destroyed) producer.stream.destroy()
  }

  async #launch(slot: Slot): Promise<void> {
    const source = this.#o.source
    this.#launching++
    let made: Readable | Producer
    try {
      made = typeof source === 'function' ? await source(slot.index) : source
    } finally {
      this.#launching--
    }
    if (!(made instanceof Readable) && (typeof made !== 'object' || !(made.stream instanceof Readable)))
      throw new TypeError('`producer.source` must give a Readable or a producer `{ stream }`')
    const producer = toProducer(made)
    this.#started.push(producer)
    if (this.#closed) {
      // Made after close() ran (a restart, or a slow factory during a failed start): close it now.
      await this.#closeOne(producer)
      return
    }
    if (this.#draining) return
    slot.producer = producer
    this.#running++
    const stream = producer.stream
    // finished() also reports a stream destroyed without an error (a premature close) and one that
    // was over before it got here; its error listener stays, so a later error is not unhandled.
    finished(stream, { writable: false }, (error) => {
      if (error == null) this.#ended(slot, producer)
      else this.#crashed(slot, producer, error)
    })
    this.#o.intake.attach(stream)
  }

  #ended(slot: Slot, producer: Producer): void {
    if (slot.producer !== producer) return
    slot.producer = null
    this.#o.intake.detach(producer.stream)
    this.#running--
    this.#checkAllEnded()
  }

  #checkAllEnded(): void {
    if (this.#running === 0 && this.#launching === 0 && !this.#draining) this.#o.onAllEnded()
  }

  #crashed(slot: Slot, producer: Producer, error: Error): void {
    if (slot.producer !== producer) return
    slot.producer = null
    this.#running--
    this.#o.intake.detach(producer.stream)
    // Once draining, the engine no longer reads the stream and closes it itself: a producer that
    // ends its stream early (a premature close) is being stopped, not crashing.
    if (this.#draining) return
    this.#restartOrGiveUp(slot, error)
  }

  #restartOrGiveUp(slot: Slot, error: Error): void {
    const restarting = !this.#draining && this.#mayRestart()
    this.#o.logger.error(
      { event: logEvents.producerCrashed, producer: slot.index, restarting, err: error },
      'A producer crashed',
    )
    if (channels.producerCrash.hasSubscribers)
      channels.producerCrash.publish({ pipeline: this.#o.pipeline, producer: slot.index, error, restarting })
    if (this.#draining) return
    if (!restarting) {
      const why =
        typeof this.#o.source === 'function'
          ? `Producers crashed more than ${String(this.#o.maxRestarts)} times within ${String(this.#o.restartWindowMs)} ms`
          : 'A producer that is not a factory crashed and cannot be restarted'
      this.#o.onFatal(new ProducerRestartsExhaustedError(why, { cause: error }))
      return
    }
    this.#restarts.push(performance.now())
    this.#o.metrics.producerRestarts++
    this.#o.logger.warn({ event: logEvents.producerRestarted, producer: slot.index }, 'Restarting a producer')
    this.#launch(slot).catch((launchError: unknown) => {
      this.#restartOrGiveUp(slot, toError(launchError))
    })
  }

  #mayRestart(): boolean {
    if (typeof this.#o.source !== 'function') return false
    const since = performance.now() - this.#o.restartWindowMs
    while (this.#restarts.length > 0 && (this.#restarts[0] as number) < since) this.#restarts.shift()
    return this.#restarts.length < this.#o.maxRestarts
  }

  #hookThrew(hook: string, error: unknown): void {
    this.#o.logger.error(
      { event: logEvents.closeHookThrew, hook, err: toError(error) },
      `A producer's ${hook} threw`,
    )
  }
}
