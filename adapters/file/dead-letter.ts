/**
 * `deadLetter`: a `handleFailed` helper that appends every failed message to an NDJSON file and
 * resolves only once the lines are on disk (`FileHandle.sync()`), so the engine acks the messages
 * (and a checkpoint moves past them) only after they are kept: a failed message is never lost.
 *
 * Group commit: calls that arrive while a write and sync are under way wait and go together in the
 * next write, so concurrent batch processors share one `sync()` rather than queueing one each. The
 * memory held is the text of the messages waiting for that next write.
 */
import { open, type FileHandle } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { inspect } from 'node:util'
import { z } from 'zod'
import { InvalidOptionError, describeValue, toError } from '../../lib/errors.js'
import { backoffDelay } from '../../lib/internal/retry.js'
import type { Message } from '../../lib/message.js'
import { boolean, parseOptions, type ResolvedOptions } from '../../lib/options.js'

/** Schema of `deadLetter`'s options; the docs table and the type come from it. */
export const deadLetterOptionsSchema = z.strictObject({
  fsync: boolean().default(true).meta({
    description:
      '`handleFailed` resolves after `FileHandle.sync()`: the lines survive a crash of the machine. `false` resolves once the write is done (in the OS cache).',
  }),
})

/** Options of `deadLetter`. */
export type DeadLetterOptions = z.input<typeof deadLetterOptionsSchema>

const FIRST_RETRY_DELAY_MS = 100
const MAX_RETRY_DELAY_MS = 5000

/** One line of the dead-letter file. */
export interface DeadLetterRecord {
  readonly data: unknown
  readonly metadata: unknown
  readonly reason: {
    readonly name: string
    readonly code?: string
    readonly message: string
    readonly line?: number
    readonly raw?: string
  } | null
  readonly attempts: number
  /** ISO 8601. */
  readonly firstFailedAt: string
  /** ISO 8601. */
  readonly lastFailedAt: string
}

/** What `deadLetter` returns. */
export interface DeadLetter {
  /**
   * Appends one line per message and resolves (with the messages) once they are on disk. A failed
   * write is retried until it succeeds; the call rejects only if the file is closed first.
   */
  readonly handleFailed: <T>(messages: Message<T>[], context?: unknown) => Promise<Message<T>[]>
  /** Waits for pending writes, then closes the file. */
  close(): Promise<void>
  /** Lines written so far. */
  readonly written: number
  /** Writes that failed and were retried (a disk that keeps failing holds the pipeline, never loses a message). */
  readonly failedWrites: number
  /** The last write error, if any. */
  readonly lastError: Error | undefined
}

interface Pending {
  readonly text: string
  readonly count: number
  resolve(): void
  reject(error: Error): void
}

/** The reason of a failed message as plain data. */
function reasonOf(reason: unknown): DeadLetterRecord['reason'] {
  if (reason === undefined) return null
  if (!(reason instanceof Error))
    return { name: typeof reason, message: typeof reason === 'string' ? reason : inspect(reason) }
  const { code, line, raw } = reason as Error & { code?: unknown; line?: unknown; raw?: unknown }
  return {
    name: reason.name,
    ...(typeof code === 'string' ? { code } : {}),
    message: reason.message,
    ...(typeof line === 'number' ? { line } : {}),
    ...(typeof raw === 'string' ? { raw } : {}),
  }
}

function timeOf(value: unknown, now: string): string {
  if (typeof value === 'string') return value
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value).toISOString()
  return now
}

/**
 * One JSON line for `message`; data without a JSON form is kept as `util.inspect` text, and bytes
 * (a raw CSV row, say) as their UTF-8 text.
 */
export function deadLetterLine(message: Message<unknown, unknown>, now = new Date().toISOString()): string {
  const metadata = message.metadata as Record<string, unknown> | undefined
  const attempts = metadata?.attempts
  const data = message.data
  const record: DeadLetterRecord = {
    data:
      data instanceof Uint8Array ? Buffer.from(data.buffer, data.byteOffset, data.length).toString() : data,
    metadata,
    reason: reasonOf(message.status.kind === 'failed' ? message.status.reason : undefined),
    attempts: typeof attempts === 'number' && attempts >= 1 ? attempts : 1,
    firstFailedAt: timeOf(metadata?.firstFailedAt, now),
    lastFailedAt: timeOf(metadata?.lastFailedAt, now),
  }
  try {
    const json = JSON.stringify(record) as string | undefined
    if (json !== undefined) return json + '\n'
  } catch {
    // a BigInt or a cycle: fall through
  }
  return (
    JSON.stringify({
      ...record,
      data: inspect(message.data, { depth: 4 }),
      metadata: inspect(metadata, { depth: 4 }),
      unserializable: true,
    }) + '\n'
  )
}

/**
 * A dead-letter file: `handleFailed` appends each failed message as one JSON line
 * `{ data, metadata, reason, attempts, firstFailedAt, lastFailedAt }` and resolves once the lines
 * are synced to disk. `attempts`, `firstFailedAt` and `lastFailedAt` come from the message's
 * metadata when it has them (a retrying handler sets them), else 1 and now.
 *
 * If a write fails, it is retried (backoff with jitter, 100 ms doubling to 5 s) until it succeeds: `handleFailed`
 * never resolves for lines that are not in the file, so the engine never acks them and a checkpoint
 * never moves past them. A disk that keeps failing therefore holds the pipeline (backpressure); at
 * `close()` the waiting calls reject, and a pipeline torn down meanwhile reports those messages
 * unacked, for their source to redeliver.
 *
 * @param path the file, opened for appending on the first write.
 * @param options.fsync sync to disk before resolving. @default true
 * @example
 * const dead = deadLetter('failed.ndjson')
 * new Pipeline({ …, handleFailed: dead.handleFailed })
 * // after the pipeline stops: await dead.close()
 */
export function deadLetter(path: string, options?: DeadLetterOptions): DeadLetter {
  const o: ResolvedOptions<typeof deadLetterOptionsSchema> = parseOptions(deadLetterOptionsSchema, options)
  if (typeof path !== 'string' || path === '')
    throw new InvalidOptionError(
      'path',
      `\`path\` must be a non-empty string, got ${describeValue(path)}`,
      path,
    )
  /** Opened by the first write (and again after a failed open). */
  let file: FileHandle | undefined
  let queue: Pending[] = []
  /** The flush under way; `busy` is cleared in the same tick its loop sees an empty queue. */
  let running: Promise<void> = Promise.resolve()
  let busy = false
  let closed = false
  let written = 0
  let failures = 0
  let lastError: Error | undefined
  /** Failed writes in a row: the backoff's exponent. */
  let retry = 0
  const closing = new AbortController()
  /** A write failed, maybe halfway through a line: the next write starts on a fresh line. */
  let torn = false

  async function flush(): Promise<void> {
    while (queue.length > 0) {
      const group = queue
      queue = []
      try {
        file ??= await open(path, 'a')
        let buffer = Buffer.from((torn ? '\n' : '') + group.map((p) => p.text).join(''))
        while (buffer.length > 0) {
          const { bytesWritten } = await file.write(buffer)
          buffer = buffer.subarray(bytesWritten)
        }
        torn = false
        if (o.fsync) await file.sync()
        for (const p of group) {
          written += p.count
          p.resolve()
        }
      } catch (error) {
        torn = true
        const reason = toError(error)
        failures++
        lastError = reason
        // Not on disk, so the messages must not be acked: keep them and retry until the write
        // succeeds or the file is closed (a pipeline torn down meanwhile reports them unacked).
        queue = [...group, ...queue]
        try {
          await sleep(backoffDelay(++retry, FIRST_RETRY_DELAY_MS, MAX_RETRY_DELAY_MS), undefined, {
            signal: closing.signal,
          })
        } catch {
          for (const p of queue) p.reject(reason)
          queue = []
        }
        continue
      }
      retry = 0
    }
    // No await between the loop's last check and here: a call in between would be stranded.
    busy = false
  }

  function handleFailed<T>(messages: Message<T>[]): Promise<Message<T>[]> {
    if (closed) return Promise.reject(new Error(`The dead-letter file ${path} is closed`))
    if (!Array.isArray(messages))
      return Promise.reject(
        new InvalidOptionError('messages', `\`messages\` must be an array, got ${describeValue(messages)}`),
      )
    if (messages.length === 0) return Promise.resolve(messages)
    const now = new Date().toISOString()
    let text = ''
    for (const message of messages) text += deadLetterLine(message, now)
    const done = new Promise<Message<T>[]>((resolve, reject) => {
      queue.push({
        text,
        count: messages.length,
        resolve: () => {
          resolve(messages)
        },
        reject,
      })
    })
    if (!busy) {
      busy = true
      running = flush()
    }
    return done
  }

  async function close(): Promise<void> {
    closed = true
    closing.abort()
    while (busy) await running
    const open = file
    file = undefined
    await open?.close()
  }

  return {
    handleFailed,
    close,
    get written() {
      return written
    },
    get failedWrites() {
      return failures
    },
    get lastError() {
      return lastError
    },
  }
}
