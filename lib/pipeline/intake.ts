/**
 * The intake: reads the producers' streams (and the test API's messages) and emits arrays of up to
 * `chunkSize` messages — the demand of one processor, as GenStage moves events in lists. Moving
 * arrays between the engine's stages pays each stream's per-chunk cost once per array instead of
 * once per message.
 *
 * Buffer bound: `highWaterMark` arrays of at most `chunkSize` messages. It reads a producer only
 * while it is below that, so a slow pipeline leaves the rest in the producer, whose own
 * `highWaterMark` then stops its source.
 */
import { Readable } from 'node:stream'
import { InvalidHandlerResultError } from '../errors.js'
import { Fifo } from '../internal/fifo.js'
import { Message } from '../message.js'
import type { PipelineMetrics } from './metrics.js'

/** Options of the intake. */
export interface IntakeOptions {
  chunkSize: number
  highWaterMark: number
  transform: ((event: never) => unknown) | undefined
  metrics: PipelineMetrics
}

/** See the module comment. */
export class Intake extends Readable {
  readonly #chunkSize: number
  readonly #transform: ((event: unknown) => unknown) | undefined
  readonly #metrics: PipelineMetrics
  readonly #sources: Readable[] = []
  readonly #injected = new Fifo<Message>()
  #next = 0
  /** Node asked for data that was not there: push as soon as some arrives. */
  #wanting = false
  #ending = false
  #pulling = false

  constructor(options: IntakeOptions) {
    super({ objectMode: true, highWaterMark: options.highWaterMark })
    this.#chunkSize = options.chunkSize
    this.#transform = options.transform as ((event: unknown) => unknown) | undefined
    this.#metrics = options.metrics
  }

  /** Starts reading `stream`. */
  attach(stream: Readable): void {
    this.#sources.push(stream)
    stream.on('readable', this.#onReadable)
    if (this.#wanting) this.#pull()
  }

  /** Stops reading `stream`; what it still holds stays there. */
  detach(stream: Readable): void {
    const index = this.#sources.indexOf(stream)
    if (index === -1) return
    this.#sources.splice(index, 1)
    stream.off('readable', this.#onReadable)
  }

  /** Messages from the test API; they go ahead of the producers'. */
  inject(messages: readonly Message[]): void {
    for (const message of messages) this.#injected.push(message)
    if (this.#wanting) this.#pull()
  }

  /** Ends the intake once the injected messages are out; producers are no longer read. */
  finish(): void {
    for (const stream of [...this.#sources]) this.detach(stream)
    this.#ending = true
    if (this.#wanting) this.#pull()
  }

  override _read(): void {
    this.#wanting = true
    this.#pull()
  }

  readonly #onReadable = (): void => {
    if (this.#wanting) this.#pull()
  }

  #pull(): void {
    if (this.#pulling || this.destroyed || this.readableEnded) return
    this.#pulling = true
    try {
      for (;;) {
        const chunk = this.#collect()
        if (chunk.length === 0) {
          if (this.#ending) this.push(null)
          else this.#wanting = true
          return
        }
        this.#wanting = false
        const now = performance.now()
        for (const message of chunk) message.enteredAt = now
        this.#metrics.received += chunk.length
        if (!this.push(chunk)) return
      }
    } finally {
      this.#pulling = false
    }
  }

  #collect(): Message[] {
    const size = this.#chunkSize
    const chunk: Message[] = []
    const injected = this.#injected
    while (injected.length > 0 && chunk.length < size) chunk.push(injected.shift() as Message)
    const sources = this.#sources
    for (let tried = 0; tried < sources.length && chunk.length < size; tried++) {
      const source = sources[this.#next++ % sources.length] as Readable
      let event: unknown
      while (chunk.length < size && (event = source.read()) !== null) chunk.push(this.#wrap(event))
    }
    return chunk
  }

  #wrap(event: unknown): Message {
    const transform = this.#transform
    if (transform === undefined) return event instanceof Message ? (event as Message) : new Message(event)
    try {
      const message = transform(event)
      if (message instanceof Message) return message as Message
      return rejected(event, new InvalidHandlerResultError('producer.transform', 'a Message', message))
    } catch (error) {
      // A bad event is a failed message, not a failed pipeline.
      return rejected(event, error)
    }
  }
}

/** A message for an event that could not become one: failed, and skipped by the processors. */
function rejected(event: unknown, reason: unknown): Message {
  const message = new Message(event).failed(reason)
  message.skipProcessing = true
  return message
}
