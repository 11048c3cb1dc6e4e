/**
 * What every sink shares: a `handleBatch` that takes either the pipeline's arguments
 * `(batcher, messages, …)` or the messages alone, and a Writable made from that `handleBatch`, so
 * one sink serves both a `Pipeline` and a `stream.pipeline`.
 */
import { Writable } from 'node:stream'
import { InvalidOptionError, describeValue, toError } from '../errors.js'
import { Message } from '../message.js'

/** The messages of a `handleBatch` call made either as `(messages)` or as `(batcher, messages, …)`. */
export function batchMessages<T>(first: string | Message<T>[], second?: Message<T>[]): Message<T>[] {
  const messages = typeof first === 'string' ? second : first
  if (!Array.isArray(messages))
    throw new InvalidOptionError('messages', `\`messages\` must be an array, got ${describeValue(messages)}`)
  return messages
}

/** How `sinkWritable` drives a sink. */
export interface SinkWritableOptions<T> {
  /** Writes the messages; marks failed the ones it could not write. */
  readonly handleBatch: (messages: Message<T>[]) => Promise<unknown>
  /** Called when the Writable ends. */
  readonly close: () => Promise<void>
  readonly highWaterMark: number
}

/**
 * An object-mode Writable of data (or of messages) that hands what is buffered to `handleBatch`
 * in one call; the first message that fails destroys the stream with its reason, after the good
 * ones of that call were written. Ending it closes the sink.
 */
export function sinkWritable<T>(options: SinkWritableOptions<T>): Writable {
  return new Writable({
    objectMode: true,
    highWaterMark: options.highWaterMark,
    writev(chunks, callback) {
      const messages = (chunks as { chunk: unknown }[]).map(({ chunk }) =>
        chunk instanceof Message ? (chunk as Message<T>) : new Message(chunk as T),
      )
      options.handleBatch(messages).then(() => {
        const failed = messages.find((m) => m.status.kind === 'failed')
        callback(failed?.status.kind === 'failed' ? toError(failed.status.reason) : undefined)
      }, callback)
    },
    final(callback) {
      options.close().then(() => {
        callback()
      }, callback)
    },
  })
}
