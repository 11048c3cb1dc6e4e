/**
 * The intake: reads the producers' streams (and the test API's messages) and emits arrays of up to
 * `chunkSize` messages — the demand of one processor, as GenStage moves events in lists. Moving
 * arrays between the engine's stages pays each stream's per-chunk cost once per array instead of
 * once per message.
 *
 * A producer may push a `MessageChunk` (many messages as one stream chunk): the intake unpacks it
 * across as many arrays as it takes, keeping the part not yet taken with its source between reads
 * (round-robin between sources goes on meanwhile), so a producer pays `push()`, and the intake
 * `read()`, once per chunk instead of once per message. A plain array is one event like any other.
 * A `PullSource` (`fromIterable` over a sync iterable) is not read at all once its buffer is empty:
 * the intake calls it for the messages it needs, straight into the array it is filling.
 *
 * Buffer bound: `highWaterMark` arrays of at most `chunkSize` messages, plus, per producer, the rest
 * of the one `MessageChunk` it is taking apart. It reads a producer only while it is below that, so
 * a slow pipeline leaves the rest in the producer, whose own `highWaterMark` then stops its source.
 *
 * The stage right after the intake may take its arrays itself instead (`takeBy`, then `takeChunk`): an
 * array is then collected only when that stage has room for it, with no stream between the two (no
 * `push`, `read`, `write` and their callbacks per array) and no arrays buffered in the intake.
 */
import { Readable } from 'node:stream'
import { InvalidHandlerResultError } from '../errors.js'
import { Fifo } from '../internal/fifo.js'
import { MessageChunk } from '../message-chunk.js'
import { Message, type EntryStamp } from '../message.js'
import type { PipelineMetrics } from './metrics.js'
import { isPullSource, takeOver, type Pull } from './pull-source.js'

/** Options of the intake. */
export interface IntakeOptions {
  chunkSize: number
  highWaterMark: number
  transform: ((event: never) => unknown) | undefined
  metrics: PipelineMetrics
}

/** A producer's stream and the `MessageChunk` being taken apart, if any. */
interface Source {
  readonly stream: Readable
  /** How to pull from a `PullSource` once its buffer is empty; `undefined` for any other stream. */
  readonly pull: Pull | undefined
  /** Messages of the last `MessageChunk` read, from `at` on not yet taken; `null` when none. */
  rest: readonly Message[] | null
  at: number
}

/** See the module comment. */
export class Intake extends Readable {
  readonly #chunkSize: number
  readonly #transform: ((event: unknown) => unknown) | undefined
  readonly #metrics: PipelineMetrics
  readonly #sources: Source[] = []
  /** The test API's messages, and what a detached producer's last `MessageChunk` still held. */
  readonly #queued = new Fifo<Message>()
  #next = 0
  /** Node (or the taker) asked for data that was not there: push (or wake the taker) as soon as some arrives. */
  #wanting = false
  #ending = false
  #pulling = false
  /** Wakes the stage that takes the arrays itself; `undefined` while they are pushed. */
  #wake: (() => void) | undefined

  constructor(options: IntakeOptions) {
    super({ objectMode: true, highWaterMark: options.highWaterMark })
    this.#chunkSize = options.chunkSize
    this.#transform = options.transform as ((event: unknown) => unknown) | undefined
    this.#metrics = options.metrics
  }

  /** Starts reading `stream`. */
  attach(stream: Readable): void {
    // A pull source has messages whenever asked: no 'readable' to wait for (and listening would
    // start it filling its buffer).
    const pull = isPullSource(stream) ? stream[takeOver]() : undefined
    this.#sources.push({ stream, pull, rest: null, at: 0 })
    if (pull === undefined) stream.on('readable', this.#onReadable)
    if (this.#wanting) this.#pull()
  }

  /**
   * Stops reading `stream`; what it still holds stays there. Messages already read from it (the
   * rest of a `MessageChunk`) were taken in, so they still go through, after the test API's.
   */
  detach(stream: Readable): void {
    const index = this.#sources.findIndex((source) => source.stream === stream)
    if (index === -1) return
    const [source] = this.#sources.splice(index, 1) as [Source]
    stream.off('readable', this.#onReadable)
    const rest = source.rest
    if (rest === null) return
    for (let i = source.at; i < rest.length; i++) this.#queued.push(rest[i] as Message)
    source.rest = null
    if (this.#wanting) this.#pull()
  }

  /** Messages from the test API; they go ahead of the producers'. */
  inject(messages: readonly Message[]): void {
    for (const message of messages) this.#queued.push(message)
    if (this.#wanting) this.#pull()
  }

  /** Ends the intake once the queued messages are out; producers are no longer read. */
  finish(): void {
    for (const source of [...this.#sources]) this.detach(source.stream)
    this.#ending = true
    if (this.#wanting) this.#pull()
  }

  /**
   * Hands the arrays to the next stage by `takeChunk` from now on, instead of pushing them: `wake` is
   * called whenever `takeChunk` returned `null` and there may be an array, or the end, again. The
   * stream side then never pushes (nor ends): read it or take from it, not both.
   */
  takeBy(wake: () => void): void {
    this.#wake = wake
  }

  /**
   * The next array, stamped and counted; `null` when there is none now (`wake` is called once there
   * may be) or no more (`exhausted`).
   */
  takeChunk(): Message[] | null {
    if (this.destroyed) return null
    // Wanting while collecting: a message that a producer's own read brings meanwhile wakes the taker.
    this.#wanting = !this.#ending
    const chunk = this.#collect()
    if (chunk.length === 0) return null
    this.#wanting = false
    this.#metrics.received += chunk.length
    return chunk
  }

  /** True once `finish` was called and every message was taken: `takeChunk` has nothing more, ever. */
  get exhausted(): boolean {
    return this.#ending && this.#sources.length === 0 && this.#queued.length === 0
  }

  override _read(): void {
    this.#wanting = true
    this.#pull()
  }

  readonly #onReadable = (): void => {
    if (this.#wanting) this.#pull()
  }

  #pull(): void {
    const wake = this.#wake
    if (wake !== undefined) {
      this.#wanting = false
      wake()
      return
    }
    if (this.#pulling || this.destroyed || this.readableEnded) return
    this.#pulling = true
    try {
      for (;;) {
        const chunk = this.#collect()
        if (chunk.length === 0) {
          // A producer's own read queued messages (through the test API) after they were looked at.
          if (this.#queued.length > 0) continue
          if (this.#ending) this.push(null)
          else this.#wanting = true
          return
        }
        this.#wanting = false
        this.#metrics.received += chunk.length
        if (!this.push(chunk)) return
      }
    } finally {
      this.#pulling = false
    }
  }

  /** The next array: queued messages first, then the producers in turn. Stamps `entered` as it goes. */
  #collect(): Message[] {
    const size = this.#chunkSize
    const chunk: Message[] = []
    // One clock read per array: its messages enter together (and the acker records their latency as one run).
    const now: EntryStamp = { at: performance.now() }
    const queued = this.#queued
    while (queued.length > 0 && chunk.length < size) {
      const message = queued.shift() as Message
      message.entered = now
      chunk.push(message)
    }
    const sources = this.#sources
    for (let tried = 0; tried < sources.length && chunk.length < size; tried++) {
      const source = sources[this.#next++ % sources.length] as Source
      if (source.rest !== null) take(source, chunk, size, now)
      const stream = source.stream
      if (source.pull !== undefined && stream.readableLength === 0) {
        source.pull(chunk, size, now)
        continue
      }
      let event: unknown
      while (chunk.length < size && (event = stream.read()) !== null) {
        if (event instanceof MessageChunk) {
          source.rest = (event as MessageChunk).messages
          source.at = 0
          take(source, chunk, size, now)
        } else {
          const message = this.#wrap(event)
          message.entered = now
          chunk.push(message)
        }
      }
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

/** Moves messages of `source.rest` into `chunk` until it holds `size`; forgets the rest once taken. */
function take(source: Source, chunk: Message[], size: number, now: EntryStamp): void {
  const rest = source.rest as readonly Message[]
  let at = source.at
  const end = Math.min(rest.length, at + size - chunk.length)
  for (; at < end; at++) {
    const message = rest[at] as Message
    message.entered = now
    chunk.push(message)
  }
  if (at === rest.length) source.rest = null
  else source.at = at
}

/** A message for an event that could not become one: failed, and skipped by the processors. */
function rejected(event: unknown, reason: unknown): Message {
  const message = new Message(event).failed(reason)
  message.skipProcessing = true
  return message
}
