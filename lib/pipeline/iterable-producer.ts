/**
 * `fromIterable`: a producer stream over an iterable or async iterable, pushing its values as
 * `MessageChunk`s of up to `chunkSize` messages, so that a pipeline fed from code (a generator, an
 * array, a database cursor) pays Node's per-chunk cost once per chunk rather than once per record.
 *
 * A sync iterable fills each chunk at once. An async one is awaited value by value; a chunk goes out
 * when it is full, or at the end of the event-loop turn in which the iterable stopped having values
 * ready (one `setImmediate` per partial chunk), so a slow source's values wait at most one turn.
 *
 * Buffer bound: `highWaterMark` chunks in the stream, plus one chunk being filled. Pulling stops
 * while the stream is full and resumes when the pipeline reads. In a pipeline, the stream over a
 * sync iterable holds nothing: the intake takes it over (`PullSource`) and calls the iterator for
 * each message as the processors want it.
 */
import { Readable } from 'node:stream'
import { z } from 'zod'
import { InvalidOptionError, describeValue, toError } from '../errors.js'
import { MessageChunk } from '../message-chunk.js'
import { Message, type EntryStamp } from '../message.js'
import { integer, parseOptions } from '../options.js'
import { takeOver, type Pull, type PullSource } from './pull-source.js'

/** Schema of `fromIterable`'s options; the docs table and the type come from it. */
export const fromIterableOptionsSchema = z.strictObject({
  chunkSize: integer(1, { max: 100_000 })
    .default(100)
    .meta({ description: 'Most messages per `MessageChunk` the stream pushes.' }),
  // Two chunks keep the pipeline fed (a sync iterable refills inside `read()`) without holding
  // Node's default of 16 chunks, 1,600 messages, alive for the GC to copy.
  highWaterMark: integer(1)
    .default(2)
    .meta({ description: 'Chunks the stream holds before it stops pulling from the iterable.' }),
})

/** Options of `fromIterable`. */
export type FromIterableOptions = z.input<typeof fromIterableOptionsSchema>

/**
 * What `fromIterable` reads: values, or `Message`s (kept as they are, with their acknowledgers).
 * `& object` keeps a string out at compile time: it is iterable, but one message per character is
 * never what was meant.
 */
export type MessageIterable<T> = (Iterable<T | Message<T>> | AsyncIterable<T | Message<T>>) & object

/**
 * A producer stream of `iterable`'s values, pushed as `MessageChunk`s of up to `chunkSize`
 * messages. A value that is a `Message` is taken as it is; any other value is wrapped in one.
 * `producer.transform` does not apply to these messages (they are messages already): map the
 * iterable instead. The stream ends when the iterable does, and fails with the error the iterable
 * throws; destroying it early calls the iterator's `return()`, as `Readable.from` does. Values
 * taken from the iterable but not yet pushed when the stream is destroyed are dropped, never acked:
 * as for anything a stopped producer still holds, their source must deliver them again.
 *
 * @param iterable any iterable or async iterable except a string.
 * @throws InvalidOptionError when `iterable` is not iterable, or an option is invalid.
 * @example
 * function* orders() { for (const row of rows) yield { id: row.id, total: row.total } }
 * new Pipeline({ name: 'orders', producer: { source: fromIterable(orders()) }, handleMessage })
 */
export function fromIterable<T>(iterable: MessageIterable<T>, options?: FromIterableOptions): Readable {
  const o = parseOptions(fromIterableOptionsSchema, options)
  const source = iterable as Partial<Iterable<unknown> & AsyncIterable<unknown>> | null
  const asyncIterator =
    typeof source === 'object' && source !== null ? source[Symbol.asyncIterator] : undefined
  if (typeof asyncIterator === 'function')
    return new AsyncIterableProducer(asyncIterator.call(source), o.chunkSize, o.highWaterMark)
  const iterator = typeof source === 'object' && source !== null ? source[Symbol.iterator] : undefined
  if (typeof iterator === 'function')
    return new IterableProducer(iterator.call(source), o.chunkSize, o.highWaterMark)
  throw new InvalidOptionError(
    'iterable',
    `\`iterable\` must be an iterable or an async iterable (not a string), got ${describeValue(iterable)}`,
    iterable,
  )
}

function toMessage(value: unknown): Message {
  return value instanceof Message ? (value as Message) : new Message(value)
}

/**
 * Over a sync iterator: each `_read` fills chunks until the stream is full or the iterator done.
 * A pipeline's intake takes it over (`PullSource`): it then makes each message when the intake
 * asks, into the intake's own array, and `_read` does nothing.
 */
class IterableProducer extends Readable implements PullSource {
  readonly #iterator: Iterator<unknown>
  readonly #chunkSize: number
  #done = false
  #pulled = false

  constructor(iterator: Iterator<unknown>, chunkSize: number, highWaterMark: number) {
    super({ objectMode: true, highWaterMark })
    this.#iterator = iterator
    this.#chunkSize = chunkSize
  }

  override _read(): void {
    if (this.#pulled) return
    const iterator = this.#iterator
    for (;;) {
      const messages: Message[] = []
      try {
        while (messages.length < this.#chunkSize) {
          const next = iterator.next()
          if (next.done === true) {
            this.#done = true
            break
          }
          messages.push(toMessage(next.value))
        }
      } catch (error) {
        this.#done = true
        this.destroy(toError(error))
        return
      }
      // The iterable's own code may have destroyed this stream meanwhile.
      if (this.destroyed) return
      const more = messages.length === 0 || this.push(new MessageChunk(messages))
      if (this.#done) {
        this.push(null)
        return
      }
      if (!more) return
    }
  }

  [takeOver](): Pull {
    this.#pulled = true
    return this.#pull
  }

  readonly #pull = (into: Message[], size: number, now: EntryStamp): void => {
    const iterator = this.#iterator
    try {
      // `#done` turns true also when the iterable's own code destroys this stream.
      while (!this.#done && into.length < size) {
        const next = iterator.next()
        if (next.done === true) {
          this.#done = true
          if (this.destroyed) return
          this.push(null)
          // Nobody reads an empty stream any more: this read sees the end and emits 'end'.
          this.read(0)
          return
        }
        const message = toMessage(next.value)
        message.entered = now
        into.push(message)
      }
    } catch (error) {
      // What the iterator gave before it threw is in the intake already, and goes through.
      this.#done = true
      this.destroy(toError(error))
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    let failure = error
    if (!this.#done) {
      this.#done = true
      try {
        this.#iterator.return?.()
      } catch (closeError) {
        failure ??= closeError as Error
      }
    }
    callback(failure)
  }
}

/**
 * Over an async iterator: one pump awaits values while the stream wants them; a full chunk is
 * pushed at once, a partial one at the end of the turn.
 */
class AsyncIterableProducer extends Readable {
  readonly #iterator: AsyncIterator<unknown>
  readonly #chunkSize: number
  #pending: Message[] = []
  #wanted = false
  #pumping = false
  #done = false
  #flushLater: NodeJS.Immediate | undefined

  constructor(iterator: AsyncIterator<unknown>, chunkSize: number, highWaterMark: number) {
    super({ objectMode: true, highWaterMark })
    this.#iterator = iterator
    this.#chunkSize = chunkSize
  }

  override _read(): void {
    this.#wanted = true
    if (!this.#pumping) void this.#pump()
  }

  async #pump(): Promise<void> {
    this.#pumping = true
    try {
      while (this.#wanted && !this.#done) {
        const next = await this.#iterator.next()
        // Destroyed while waiting: the value goes nowhere.
        if (this.destroyed) return
        if (next.done === true) {
          this.#done = true
          this.#flush()
          this.push(null)
          return
        }
        this.#pending.push(toMessage(next.value))
        if (this.#pending.length >= this.#chunkSize) this.#flush()
        else this.#flushLater ??= setImmediate(this.#flushPartial)
      }
    } catch (error) {
      this.#done = true
      this.destroy(toError(error))
    } finally {
      this.#pumping = false
    }
  }

  readonly #flushPartial = (): void => {
    this.#flushLater = undefined
    if (!this.#done) this.#flush()
  }

  /** Pushes the pending messages as one chunk; stops the pump when the stream is full. */
  #flush(): void {
    if (this.#flushLater !== undefined) {
      clearImmediate(this.#flushLater)
      this.#flushLater = undefined
    }
    if (this.#pending.length === 0) return
    const chunk = new MessageChunk(this.#pending)
    this.#pending = []
    this.#wanted = this.push(chunk)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#flushLater !== undefined) clearImmediate(this.#flushLater)
    this.#flushLater = undefined
    const iterator = this.#iterator
    if (this.#done || iterator.return === undefined) {
      this.#done = true
      callback(error)
      return
    }
    this.#done = true
    // As `Readable.from`: the iterator's own cleanup (a generator's `finally`) runs before the stream closes.
    Promise.resolve()
      .then(() => iterator.return?.())
      .then(
        () => {
          callback(error)
        },
        (closeError: unknown) => {
          callback(error ?? (closeError as Error))
        },
      )
  }
}
