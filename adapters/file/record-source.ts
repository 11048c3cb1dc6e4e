/**
 * What the file sources (CSV, NDJSON) share: the options every one of them takes (resume position,
 * tracker, file name, error budget, buffer), the counters they keep, the error budget's rule, and
 * how a record becomes a message (good, or failed before the processors).
 */
import { z } from 'zod'
import type { ErrorBudgetExceededError, MalformedRecordError } from '../../lib/errors.js'
import { Message } from '../../lib/message.js'
import { finiteNumber, integer } from '../../lib/options.js'
import type { RecordPosition, RecordTracker } from './position.js'

/** A `RecordPosition` option. */
export const recordPositionSchema = z.custom<RecordPosition>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    Number.isSafeInteger((v as RecordPosition).line) &&
    (v as RecordPosition).line >= 0 &&
    Number.isSafeInteger((v as RecordPosition).offset) &&
    (v as RecordPosition).offset >= 0,
  { error: 'must be a position `{ line, offset }` of non-negative integers' },
)

/** A `RecordTracker` option. */
export const recordTrackerSchema = z.custom<RecordTracker>(
  (v) => typeof v === 'object' && v !== null && typeof (v as RecordTracker).track === 'function',
  { error: 'must be an object with a `track(position)` function' },
)

/** The options every file source takes, spread into its own schema. */
export const recordSourceOptionFields = {
  startAt: recordPositionSchema.optional().meta({
    description:
      'Resume just past this record (a checkpoint’s position): reading starts at its byte `offset`, lines are numbered from `line + 1`.',
  }),
  tracker: recordTrackerSchema.optional().meta({
    description:
      'Told the end position of every record before it goes out (e.g. a `FileCheckpoint`); gives each message its acknowledger and `ackData`.',
  }),
  file: z
    .string()
    .optional()
    .meta({ description: 'Name put in `metadata.file`.', default: 'the path (`null` for a Readable)' }),
  maxFailedRows: integer(0, { allowInfinity: true })
    .default(Infinity)
    .meta({ description: 'Most malformed records allowed; one more stops the source.', default: 'Infinity' }),
  maxFailedRatio: finiteNumber(0)
    .refine((n) => n <= 1, { error: 'must be a finite number ≥ 0 and ≤ 1' })
    .default(1)
    .meta({
      description:
        'Most malformed records per record read, checked once `minRowsForRatio` are read and at the end; above it the source stops.',
    }),
  minRowsForRatio: integer(1).default(1000).meta({
    description: 'Records read before `maxFailedRatio` is checked (it is always checked at the end).',
  }),
  highWaterMark: integer(1)
    .default(1024)
    .meta({ description: 'Messages buffered before the file read pauses.' }),
}

/** Counters of a file source, updated as it reads (a progress bar reads them). */
export interface RecordSourceStats {
  /** Records read, malformed ones included. */
  rows: number
  /** Malformed records (failed messages). */
  failed: number
  /** Bytes read by this run (a resumed run counts from `startAt.offset`). */
  bytesRead: number
  /** Bytes this run has to read, when reading a path (known shortly after the start). */
  totalBytes: number | undefined
  /** Set when the error budget was exceeded and the source stopped (also emitted as `'budgetExceeded'`). */
  budgetExceeded: ErrorBudgetExceededError | undefined
  /** The source has read all it will read. */
  ended: boolean
}

/** Fresh counters. */
export function newRecordSourceStats(): RecordSourceStats {
  return { rows: 0, failed: 0, bytesRead: 0, totalBytes: undefined, budgetExceeded: undefined, ended: false }
}

/** The error budget's rule: too many malformed records by count, or by ratio once enough are read. */
export class ErrorBudget {
  readonly #maxFailedRows: number
  readonly #maxFailedRatio: number
  readonly #minRowsForRatio: number

  constructor(options: { maxFailedRows: number; maxFailedRatio: number; minRowsForRatio: number }) {
    this.#maxFailedRows = options.maxFailedRows
    this.#maxFailedRatio = options.maxFailedRatio
    this.#minRowsForRatio = options.minRowsForRatio
  }

  /** Why the budget is exceeded after `failed` of `rows` records (`atEnd`: the input is over), or undefined. */
  exceeded(rows: number, failed: number, atEnd: boolean): string | undefined {
    if (failed > this.#maxFailedRows)
      return `${String(failed)} malformed records, more than maxFailedRows (${String(this.#maxFailedRows)})`
    if ((atEnd || rows >= this.#minRowsForRatio) && rows > 0 && failed / rows > this.#maxFailedRatio)
      return `${String(failed)} malformed records of ${String(rows)}, more than maxFailedRatio (${String(this.#maxFailedRatio)})`
    return undefined
  }
}

/** The message of a good record: with the tracker's acknowledger when there is a tracker. */
export function recordMessage<M>(
  data: unknown,
  metadata: M,
  tracker: RecordTracker | undefined,
  end: RecordPosition,
): Message<unknown, M> {
  if (tracker === undefined) return new Message(data, { metadata })
  const { acknowledger, ackData } = tracker.track(end)
  return new Message(data, { metadata, acknowledger, ackData })
}

/**
 * The message of a malformed record: failed with `reason`, its `data` the raw text, and skipped by
 * the processors (it never reaches `handleMessage`); acked failed after `handleFailed`.
 */
export function malformedMessage<M>(
  raw: string,
  reason: MalformedRecordError,
  metadata: M,
  tracker: RecordTracker | undefined,
  end: RecordPosition,
): Message<unknown, M> {
  const message = recordMessage(raw, metadata, tracker, end).failed(reason)
  message.skipProcessing = true
  return message
}
