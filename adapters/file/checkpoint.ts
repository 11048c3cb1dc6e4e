/**
 * `FileCheckpoint`: the acknowledger of a file source that remembers how far the import got, so a
 * re-run can resume there. Each record the source reads is tracked in file order and gets a sequence
 * number; acks arrive out of order, in groups; the checkpoint is the position of the last record of
 * the longest acked prefix (the low watermark), so a gap (a record still in flight) holds it back and
 * it never passes an unacked record. It is written atomically (temp file, fsync, rename, fsync of the
 * directory) when it has moved `everyRows` rows since the last write, at most `everyMs` after it
 * moved, and at `close()`.
 *
 * Memory: an `AckWindow` (a ring over the records between the watermark and the last tracked one),
 * so it grows with the records in flight, never with the size of the file.
 */
import { open, readFile, rename } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { z } from 'zod'
import { CheckpointError, describeValue } from '../../lib/errors.js'
import type { Acknowledger, Message } from '../../lib/message.js'
import { AckWindow } from '../../lib/internal/ack-window.js'
import { integer, parseOptions, type ResolvedOptions } from '../../lib/options.js'
import type { RecordPosition, RecordTracker } from './position.js'

/** Version of the checkpoint file format this module writes and reads. */
export const CHECKPOINT_VERSION = 1

const positionSchema = z.strictObject({ line: integer(0), offset: integer(0) })

/** Schema of `FileCheckpoint`'s options; the docs table and the type come from it. */
export const fileCheckpointOptionsSchema = z.strictObject({
  everyRows: integer(1, { allowInfinity: true }).default(10_000).meta({
    description:
      'Rows the checkpoint moves past before it is written again (`Infinity`: by time and at close only).',
  }),
  // setTimeout fires a longer delay after 1 ms.
  everyMs: integer(1, { max: 2 ** 31 - 1, allowInfinity: true })
    .default(1000)
    .meta({
      description: 'Most time between the checkpoint moving and its being written (`Infinity`: no timer).',
    }),
  file: z
    .string({ error: 'must be a non-empty string' })
    .min(1, { error: 'must be a non-empty string' })
    .optional()
    .meta({
      description:
        'The source file, written (as an absolute path) in the checkpoint; `load` with another `file` refuses to resume.',
    }),
  start: positionSchema.optional().meta({
    description: 'The position the import resumed from (what `load` returned): `position` until an ack.',
  }),
})

/** Options of `FileCheckpoint`. */
export type FileCheckpointOptions = z.input<typeof fileCheckpointOptionsSchema>

/** Options of `FileCheckpoint.load`. */
export interface LoadCheckpointOptions {
  /** The file about to be imported: a checkpoint written for another file is refused. */
  file?: string
}

/** What a checkpoint file holds. */
export interface CheckpointData extends RecordPosition {
  readonly version: typeof CHECKPOINT_VERSION
  /** The source file (absolute path), when the checkpoint was given one. */
  readonly file?: string
  /** When it was written (ISO 8601). */
  readonly updatedAt: string
}

const dataSchema = z.object({
  version: z.literal(CHECKPOINT_VERSION),
  file: z.string().optional(),
  line: z.number().int().min(0),
  offset: z.number().int().min(0),
  updatedAt: z.string(),
})

/**
 * See the module comment. Give it to a file source as its `RecordTracker`; call `close()` (the
 * producer's `close` hook) to write the final checkpoint.
 * @example
 * const start = await FileCheckpoint.load('orders.ckpt', { file: 'orders.csv' })
 * const checkpoint = new FileCheckpoint('orders.ckpt', { file: 'orders.csv', start })
 * // the source skips to start.offset, calls checkpoint.track(position) for each record, and its
 * // producer has `close: checkpoint.close`
 */
export class FileCheckpoint implements RecordTracker, Acknowledger {
  /** Path of the checkpoint file. */
  readonly path: string
  /** The validated options, frozen. */
  readonly options: ResolvedOptions<typeof fileCheckpointOptionsSchema>
  readonly #file: string | undefined
  readonly #tempPath: string
  /** Records in flight by sequence number, with their (line, offset); its `low` is the watermark. */
  readonly #window = new AckWindow()
  #lastLine = 0
  #lastOffset = 0
  #position: RecordPosition | undefined
  #persisted: RecordPosition | undefined
  /** `#low` as of the last successful write, and as of the start of the last write. */
  #writtenLow = 0
  #writeStartLow = 0
  #writing: Promise<void> | undefined
  #again = false
  #error: CheckpointError | undefined
  #timer: NodeJS.Timeout | undefined
  #closing: Promise<void> | undefined

  constructor(path: string, options?: FileCheckpointOptions) {
    if (typeof path !== 'string' || path === '')
      throw new CheckpointError(`The checkpoint path must be a non-empty string, got ${describeValue(path)}`)
    this.options = parseOptions(fileCheckpointOptionsSchema, options)
    this.path = path
    this.#tempPath = `${path}.tmp`
    this.#file = this.options.file === undefined ? undefined : resolve(this.options.file)
    this.#position = this.options.start
    this.#persisted = this.options.start
  }

  /**
   * Reads the checkpoint at `path`: the position to resume after, or `undefined` when there is no
   * checkpoint yet. Rejects with a `CheckpointError` when the file cannot be read, is not a version 1
   * checkpoint, or was written for another file than `options.file`. A leftover temp file (a write
   * cut short) is ignored: the checkpoint is always the last complete write.
   */
  static async load(path: string, options: LoadCheckpointOptions = {}): Promise<RecordPosition | undefined> {
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new CheckpointError(`The checkpoint ${path} could not be read`, { cause: error })
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (error) {
      throw new CheckpointError(`The checkpoint ${path} is not valid JSON`, { cause: error })
    }
    const parsed = dataSchema.safeParse(json)
    if (!parsed.success)
      throw new CheckpointError(`The checkpoint ${path} is not a version ${CHECKPOINT_VERSION} checkpoint`, {
        cause: parsed.error,
      })
    const data = parsed.data
    if (options.file !== undefined && data.file !== undefined && resolve(options.file) !== data.file)
      throw new CheckpointError(
        `The checkpoint ${path} is of ${data.file}, not ${resolve(options.file)}: refusing to resume`,
      )
    return { line: data.line, offset: data.offset }
  }

  /** The position just past the last record of the acked prefix: a resume starts after it. */
  get position(): RecordPosition | undefined {
    return this.#position
  }

  /** The position last written to the checkpoint file (by this instance, or `start`). */
  get persisted(): RecordPosition | undefined {
    return this.#persisted
  }

  /** @internal Records tracked and not yet below the watermark (the window the ring holds). */
  get inFlight(): number {
    return this.#window.inFlight
  }

  /** @internal Slots of the ring. */
  get windowCapacity(): number {
    return this.#window.capacity
  }

  /** Gives the next record (in file order) its sequence number, the `ackData` of its message. */
  track(position: RecordPosition): { acknowledger: Acknowledger; ackData: unknown } {
    if (this.#closing !== undefined)
      throw new CheckpointError('The checkpoint is closed: no record can be tracked')
    const { line, offset } = position
    if (!(line >= this.#lastLine && offset >= this.#lastOffset))
      throw new CheckpointError(
        `Records must be tracked in file order: line ${String(line)} at offset ${String(offset)} comes after line ${String(this.#lastLine)} at offset ${String(this.#lastOffset)}`,
      )
    this.#lastLine = line
    this.#lastOffset = offset
    return { acknowledger: this, ackData: this.#window.track(line, offset) }
  }

  /**
   * Marks the messages done, successful or failed alike (a failed message was dead-lettered by
   * `handleFailed` before its ack), and moves the watermark over the acked prefix. Returns a promise
   * when the move triggers a write (`everyRows`), so the pipeline waits for it and logs a failure.
   * Throws a `CheckpointError` for an `ackData` that is not a record in flight (after marking the others).
   */
  ack(successful: readonly Message[], failed: readonly Message[]): void | Promise<void> {
    let unknown: unknown[] | undefined
    const window = this.#window
    for (const message of successful)
      if (!window.mark(message.ackData)) (unknown ??= []).push(message.ackData)
    for (const message of failed) if (!window.mark(message.ackData)) (unknown ??= []).push(message.ackData)
    const result = this.#advance()
    if (unknown !== undefined) {
      // The write (if any) runs on; a failure is kept and retried.
      if (result !== undefined) result.catch(noop)
      throw new CheckpointError(
        `${String(unknown.length)} acked message(s) are not records in flight (acked twice, or not tracked here): first ackData ${describeValue(unknown[0])}`,
      )
    }
    return result
  }

  /** Writes the checkpoint now if it moved since the last write; rejects with a `CheckpointError` on failure. */
  flush(): Promise<void> {
    return this.#persist()
  }

  /**
   * Stops the timer, waits for a write in progress and writes the final checkpoint. Idempotent;
   * bound, so `{ stream, close: checkpoint.close }` is a producer whose shutdown writes it. Records
   * acked after it are counted but no longer written.
   */
  readonly close = (): Promise<void> => {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#clearTimer()
    await this.#persist()
  }

  #advance(): void | Promise<void> {
    const window = this.#window
    if (!window.advance()) return
    const low = window.low
    this.#position = { line: window.lastA, offset: window.lastB }
    if (this.#closing !== undefined) return
    if (low - this.#writeStartLow >= this.options.everyRows) return this.#persist()
    if (this.#writing === undefined) this.#armTimer()
  }

  #armTimer(): void {
    const everyMs = this.options.everyMs
    if (this.#timer !== undefined || everyMs === Infinity) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      // A failure is kept and the timer armed again to retry.
      this.#persist().catch(noop)
    }, everyMs)
    this.#timer.unref()
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** Resolves once the state as of now is written; never two writes at once. */
  #persist(): Promise<void> {
    const target = this.#window.low
    if (this.#writing === undefined) {
      this.#writing = this.#writeLoop().finally(() => {
        this.#writing = undefined
        if (this.#window.low > this.#writtenLow && this.#closing === undefined) this.#armTimer()
      })
    } else this.#again = true
    return this.#writing.then(() => {
      if (this.#writtenLow < target)
        throw this.#error ?? new CheckpointError(`The checkpoint ${this.path} was not written`)
    })
  }

  async #writeLoop(): Promise<void> {
    this.#clearTimer()
    do {
      this.#again = false
      const low = this.#window.low
      const position = this.#position
      if (low <= this.#writtenLow || position === undefined) return
      this.#writeStartLow = low
      const data: CheckpointData = {
        version: CHECKPOINT_VERSION,
        ...(this.#file === undefined ? {} : { file: this.#file }),
        line: position.line,
        offset: position.offset,
        updatedAt: new Date().toISOString(),
      }
      try {
        await writeAtomically(this.path, this.#tempPath, `${JSON.stringify(data)}\n`)
      } catch (error) {
        // Retried by the timer, the next `everyRows` step, a flush or close.
        this.#error = new CheckpointError(`The checkpoint ${this.path} could not be written`, {
          cause: error,
        })
        return
      }
      this.#writtenLow = low
      this.#persisted = position
      this.#error = undefined
    } while (this.#askedAgain())
  }

  /** True when a write was asked for while the last one ran (a method, so the loop re-reads the flag). */
  #askedAgain(): boolean {
    return this.#again
  }
}

/** Writes `text` to `temp`, fsyncs it, renames it over `path` and fsyncs the directory (best effort). */
async function writeAtomically(path: string, temp: string, text: string): Promise<void> {
  const handle = await open(temp, 'w')
  try {
    await handle.writeFile(text, 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temp, path)
  try {
    const dir = await open(dirname(path), 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  } catch {
    // Some platforms (Windows) cannot fsync a directory; the rename is still atomic.
  }
}

function noop(): void {
  // the outcome is kept in the checkpoint
}
