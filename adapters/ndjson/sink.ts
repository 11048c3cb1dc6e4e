/**
 * `ndjsonSink`: appends each message's `data` as one JSON line to a file or to stdout — the
 * embedded sink that needs no external service. One sink gives a `handleBatch` helper for a
 * `Pipeline` and `writable()` for `stream.pipeline`.
 *
 * Buffer bound: each `handleBatch` call writes its batch as one string and resolves only once the
 * output has handed it on (the write's callback), so the sink holds at most the batches in flight
 * (the batch processors' concurrency); `writable()` holds at most its own `highWaterMark` items
 * besides.
 */
import { jsonText } from '../../lib/internal/json-text.js'
import { batchMessages, sinkWritable } from '../../lib/internal/sink.js'
import { createWriteStream } from 'node:fs'
import { Writable } from 'node:stream'
import { z } from 'zod'
import { InvalidOptionError, describeValue } from '../../lib/errors.js'
import { Message } from '../../lib/message.js'
import { boolean, integer, parseOptions, type ResolvedOptions } from '../../lib/options.js'

/** Schema of `ndjsonSink`'s options; the docs table and the type come from it. */
export const ndjsonSinkOptionsSchema = z.strictObject({
  append: boolean()
    .default(true)
    .meta({ description: 'Append to the file; `false` truncates it when the sink opens it.' }),
  highWaterMark: integer(1)
    .default(64 * 1024)
    .meta({
      description: 'Bytes the file stream buffers before a write waits for `drain`.',
      default: '65536',
    }),
  writableHighWaterMark: integer(1)
    .default(16)
    .meta({ description: 'Items `writable()` buffers before its writer waits.' }),
})

/** Options of `ndjsonSink`. */
export type NdjsonSinkOptions = z.input<typeof ndjsonSinkOptionsSchema>

/** What `ndjsonSink` returns. */
export interface NdjsonSink {
  /**
   * Writes the `data` of each message as one line and resolves with the messages once the output has
   * handed the text on (for a file: it is in the OS, so a process crash cannot lose it). Use it as `handleBatch`, or call it inside
   * one with the messages alone. A message whose data has no JSON form is marked failed and skipped.
   */
  handleBatch: {
    <T>(messages: Message<T>[]): Promise<Message<T>[]>
    <T>(batcher: string, messages: Message<T>[], ...rest: unknown[]): Promise<Message<T>[]>
  }
  /** An object-mode Writable of data (or of messages, whose `data` is written). Ending it closes the sink. */
  writable(): Writable
  /** Flushes, and closes the file the sink opened (stdout and a given Writable stay open). */
  close(): Promise<void>
  /** Lines written so far. */
  readonly lines: number
}

/**
 * A sink that writes each message's `data` as one JSON line.
 *
 * @param target a path (opened lazily, on the first write), `'-'` for stdout, or a Writable.
 * @param options.append append to the file rather than truncate it. @default true
 * @param options.highWaterMark bytes the file stream buffers. @default 65536
 * @param options.writableHighWaterMark items `writable()` buffers. @default 16
 * @example
 * const sink = ndjsonSink('out.ndjson')
 * new Pipeline({ …, batchers: { default: {} }, handleBatch: sink.handleBatch })
 * // or: await pipeline(records, sink.writable())
 */
export function ndjsonSink(target: string | Writable, options?: NdjsonSinkOptions): NdjsonSink {
  const o: ResolvedOptions<typeof ndjsonSinkOptionsSchema> = parseOptions(ndjsonSinkOptionsSchema, options)
  if (!(target instanceof Writable) && (typeof target !== 'string' || target === ''))
    throw new InvalidOptionError(
      'target',
      `\`target\` must be a path, '-' or a Writable, got ${describeValue(target)}`,
      target,
    )
  const owns = typeof target === 'string' && target !== '-'
  let out: Writable | undefined
  let failure: Error | undefined
  let closing: Promise<void> | undefined
  let lines = 0

  function output(): Writable {
    if (failure !== undefined) throw failure
    if (closing !== undefined) throw new Error('The NDJSON sink is closed')
    if (out !== undefined) return out
    out =
      target === '-'
        ? process.stdout
        : typeof target === 'string'
          ? createWriteStream(target, { flags: o.append ? 'a' : 'w', highWaterMark: o.highWaterMark })
          : target
    out.on('error', (error) => {
      failure ??= error
    })
    return out
  }

  /**
   * Writes `text`; resolves once the output has handed it on (the write's callback: for a file, the
   * bytes are in the OS). Resolving earlier, when the stream merely buffered them, would let a
   * checkpoint pass lines a crash then loses from Node's buffer.
   */
  function write(text: string): Promise<void> {
    const stream = output()
    return new Promise((resolve, reject) => {
      stream.write(text, (error) => {
        if (error == null) resolve()
        else reject(error)
      })
    })
  }

  async function handleBatch<T>(first: string | Message<T>[], second?: Message<T>[]): Promise<Message<T>[]> {
    const messages = batchMessages(first, second)
    let text = ''
    let count = 0
    for (const message of messages) {
      const line = jsonText(message.data)
      if (typeof line === 'string') {
        text += line + '\n'
        count++
      } else message.failed(line)
    }
    if (text !== '') await write(text)
    lines += count
    return messages
  }

  function writable(): Writable {
    return sinkWritable<unknown>({ handleBatch, close, highWaterMark: o.writableHighWaterMark })
  }

  function close(): Promise<void> {
    closing ??= new Promise<void>((resolve, reject) => {
      const stream = out
      if (stream === undefined) {
        resolve()
        return
      }
      if (owns) {
        if (stream.destroyed) {
          if (failure === undefined) resolve()
          else reject(failure)
          return
        }
        stream.end((error?: Error | null) => {
          if (error) reject(error)
          else if (failure !== undefined) reject(failure)
          else resolve()
        })
      } else {
        // Not ours to close: wait until what was written has left the buffer.
        stream.write('', (error) => {
          if (error) reject(error)
          else resolve()
        })
      }
    })
    return closing
  }

  return {
    handleBatch: handleBatch,
    writable,
    close,
    get lines() {
      return lines
    },
  }
}
