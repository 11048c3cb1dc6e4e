/**
 * Every error streamway raises, in one place. Users match on `code`, which never changes meaning:
 * a retired code is never reused. `docs/errors.md` lists each code; `test/errors.test.ts` keeps the
 * two in step.
 */

/** Options accepted by every streamway error: the underlying cause, as with `Error`. */
export interface StreamwayErrorOptions {
  cause?: unknown
}

/** Base class of every streamway error. Match on `code` rather than on the class. */
export class StreamwayError extends Error {
  /** Stable, documented identifier of the failure. */
  readonly code: string = 'SW_ERR'

  constructor(message = 'Streamway error', options?: StreamwayErrorOptions) {
    super(message, options)
    this.name = 'StreamwayError'
  }
}

/**
 * An option failed validation when a stream or pipeline was built. `path` names the option
 * (`options.concurrency`, `processors.default.concurrency`), `value` is what was given.
 */
export class InvalidOptionError extends StreamwayError {
  override readonly code = 'SW_ERR_INVALID_OPTION'
  /** Dotted path of the rejected option. */
  readonly path: string
  /** The rejected value, as given. */
  readonly value: unknown

  constructor(
    path = 'options',
    message = 'Invalid option',
    value?: unknown,
    options?: StreamwayErrorOptions,
  ) {
    super(message, options)
    this.name = 'InvalidOptionError'
    this.path = path
    this.value = value
  }
}

/** The operation was aborted through an `AbortSignal`; `cause` holds the signal's reason. */
export class AbortError extends StreamwayError {
  override readonly code = 'SW_ERR_ABORTED'

  constructor(message = 'The operation was aborted', options?: StreamwayErrorOptions) {
    super(message, options)
    this.name = 'AbortError'
  }
}

/**
 * A batch accumulator refused an item even in an empty batch: the item alone is over the cap, so it
 * can go in no batch without breaking the cap. The batch stream is destroyed with this error; the
 * item is in `item`.
 */
export class BatchItemTooLargeError extends StreamwayError {
  override readonly code = 'SW_ERR_BATCH_ITEM_TOO_LARGE'
  /** The item that fits in no batch. */
  readonly item: unknown

  constructor(
    item: unknown,
    message = 'An item is larger than the batch cap on its own',
    options?: StreamwayErrorOptions,
  ) {
    super(message, options)
    this.name = 'BatchItemTooLargeError'
    this.item = item
  }
}

/**
 * A partition key function returned a value that has no stable partition: keys must be integers,
 * bigints, strings, or other numbers/booleans (hashed by their text).
 */
export class InvalidPartitionKeyError extends StreamwayError {
  override readonly code = 'SW_ERR_INVALID_PARTITION_KEY'
  /** The key that was returned. */
  readonly key: unknown

  constructor(key: unknown, options?: StreamwayErrorOptions) {
    super(`A partition key must be a number, bigint, string or boolean, got ${describeValue(key)}`, options)
    this.name = 'InvalidPartitionKeyError'
    this.key = key
  }
}

/** A stream closed before it ended, so the stream reading from it cannot complete. */
export class PrematureCloseError extends StreamwayError {
  override readonly code = 'SW_ERR_PREMATURE_CLOSE'

  constructor(message = 'A stream closed before it ended', options?: StreamwayErrorOptions) {
    super(message, options)
    this.name = 'PrematureCloseError'
  }
}

/**
 * A pipeline callback returned something the engine cannot use: `handleMessage` a non-message,
 * `prepareMessages` a list of another length, `handleBatch` a non-array, `producer.transform` a
 * non-message. The messages concerned fail with this reason; the pipeline goes on.
 */
export class InvalidHandlerResultError extends StreamwayError {
  override readonly code = 'SW_ERR_INVALID_HANDLER_RESULT'
  /** The callback at fault. */
  readonly callback: string
  /** What it returned. */
  readonly result: unknown

  constructor(
    callback = 'a callback',
    expected = 'a usable value',
    result?: unknown,
    options?: StreamwayErrorOptions,
  ) {
    super(`\`${callback}\` must return ${expected}, got ${describeValue(result)}`, options)
    this.name = 'InvalidHandlerResultError'
    this.callback = callback
    this.result = result
  }
}

/** A message was sent (`putBatcher`) to a batcher the pipeline does not have; it fails with this reason. */
export class UnknownBatcherError extends StreamwayError {
  override readonly code = 'SW_ERR_UNKNOWN_BATCHER'
  /** The batcher asked for. */
  readonly batcher: string

  constructor(batcher = '', known: readonly string[] = [], options?: StreamwayErrorOptions) {
    super(
      `No batcher named ${describeValue(batcher)}; this pipeline has ${known.length === 0 ? 'none' : known.map((k) => JSON.stringify(k)).join(', ')}`,
      options,
    )
    this.name = 'UnknownBatcherError'
    this.batcher = batcher
  }
}

/** `handleBatch` did not return a message of its batch; the message fails with this reason (never lost). */
export class MissingFromBatchError extends StreamwayError {
  override readonly code = 'SW_ERR_MISSING_FROM_BATCH'

  constructor(batcher = 'default', options?: StreamwayErrorOptions) {
    super(`\`handleBatch\` of batcher ${JSON.stringify(batcher)} did not return this message`, options)
    this.name = 'MissingFromBatchError'
  }
}

/** A pipeline method was called in a state that does not allow it (e.g. `testMessage` before `start()`). */
export class PipelineStateError extends StreamwayError {
  override readonly code = 'SW_ERR_PIPELINE_STATE'

  constructor(message = 'The pipeline is not in a state that allows this', options?: StreamwayErrorOptions) {
    super(message, options)
    this.name = 'PipelineStateError'
  }
}

/** `getRateLimiting` / `updateRateLimiting` on a pipeline built without `rateLimiting`. */
export class RateLimitingDisabledError extends StreamwayError {
  override readonly code = 'SW_ERR_RATE_LIMITING_DISABLED'

  constructor(pipeline = 'pipeline', options?: StreamwayErrorOptions) {
    super(`Pipeline ${JSON.stringify(pipeline)} has no \`rateLimiting\` option`, options)
    this.name = 'RateLimitingDisabledError'
  }
}

/**
 * Producers crashed more than `producer.maxRestarts` times within `producer.restartWindowMs` (or a
 * producer that cannot be restarted crashed): the pipeline drains what it holds and stops. `cause`
 * is the last crash.
 */
export class ProducerRestartsExhaustedError extends StreamwayError {
  override readonly code = 'SW_ERR_PRODUCER_RESTARTS_EXHAUSTED'

  constructor(
    message = 'Producers crashed more often than the pipeline allows',
    options?: StreamwayErrorOptions,
  ) {
    super(message, options)
    this.name = 'ProducerRestartsExhaustedError'
  }
}

/** `stop()` ran past `shutdownTimeoutMs`: the stages are torn down with this error and what was in them stays unacked. */
export class ShutdownTimeoutError extends StreamwayError {
  override readonly code = 'SW_ERR_SHUTDOWN_TIMEOUT'

  constructor(timeoutMs = 0, options?: StreamwayErrorOptions) {
    super(`The pipeline did not drain within shutdownTimeoutMs (${String(timeoutMs)} ms)`, options)
    this.name = 'ShutdownTimeoutError'
  }
}

/**
 * A record of a file source could not be parsed (an unclosed quote, a wrong column count, invalid
 * encoding, a line that is not JSON). It is the reason of that record's failed message; the import
 * goes on. `line` and `raw` say where and what.
 */
export class MalformedRecordError extends StreamwayError {
  override readonly code = 'SW_ERR_MALFORMED_RECORD'
  /** Line number (1-based) where the record starts. */
  readonly line: number
  /** The record's text as read (possibly cut short). */
  readonly raw: string
  /** The parser's own code for the fault (e.g. csv-parse's `CSV_QUOTE_NOT_CLOSED`), when it has one. */
  readonly parserCode: string | undefined

  constructor(
    message = 'A record could not be parsed',
    details: { line?: number; raw?: string; parserCode?: string } = {},
    options?: StreamwayErrorOptions,
  ) {
    super(message, options)
    this.name = 'MalformedRecordError'
    this.line = details.line ?? 0
    this.raw = details.raw ?? ''
    this.parserCode = details.parserCode
  }
}

/** A file source met more malformed records than its error budget allows, and stopped reading. */
export class ErrorBudgetExceededError extends StreamwayError {
  override readonly code = 'SW_ERR_ERROR_BUDGET_EXCEEDED'

  constructor(message = 'More records failed than the error budget allows', options?: StreamwayErrorOptions) {
    super(message, options)
    this.name = 'ErrorBudgetExceededError'
  }
}

/** A checkpoint file could not be read, parsed or written. */
export class CheckpointError extends StreamwayError {
  override readonly code = 'SW_ERR_CHECKPOINT'

  constructor(message = 'The checkpoint could not be read or written', options?: StreamwayErrorOptions) {
    super(message, options)
    this.name = 'CheckpointError'
  }
}

/**
 * A sink gave up on a batch after its retries: every attempt met a transient fault (a network
 * error, a 5xx, a lost database connection). `attempts` says how many; `cause` is the last fault.
 * The batch's messages fail with it and go to `handleFailed`.
 */
export class SinkRetriesExhaustedError extends StreamwayError {
  override readonly code = 'SW_ERR_SINK_RETRIES_EXHAUSTED'
  /** Attempts made, the first included. */
  readonly attempts: number

  constructor(message = 'The sink gave up after its retries', attempts = 0, options?: StreamwayErrorOptions) {
    super(message, options)
    this.name = 'SinkRetriesExhaustedError'
    this.attempts = attempts
  }
}

/** An HTTP sink's request got a status it does not retry (a 4xx other than 408 and 429). */
export class HttpStatusError extends StreamwayError {
  override readonly code = 'SW_ERR_HTTP_STATUS'
  /** The response status. */
  readonly status: number
  /** The start of the response body, for the reason. */
  readonly body: string

  constructor(status = 0, body = '', options?: StreamwayErrorOptions) {
    super(`The server answered ${String(status)}${body === '' ? '' : `: ${body.slice(0, 200)}`}`, options)
    this.name = 'HttpStatusError'
    this.status = status
    this.body = body
  }
}

/** The receiving system rejected this one item of a batch (an HTTP per-item result, a database row). */
export class ItemRejectedError extends StreamwayError {
  override readonly code = 'SW_ERR_ITEM_REJECTED'
  /** The receiver's own code for the fault (a SQLSTATE such as `23505`, an API error code), if any. */
  readonly receiverCode: string | undefined

  constructor(
    message = 'The receiver rejected this item',
    receiverCode?: string,
    options?: StreamwayErrorOptions,
  ) {
    super(message, options)
    this.name = 'ItemRejectedError'
    this.receiverCode = receiverCode
  }
}

/**
 * The connection to a database was lost during COMMIT and whether the transaction committed could
 * not be read back: retrying might write the batch twice, so the batch fails instead (its messages
 * go to `handleFailed`).
 */
export class CommitUnknownError extends StreamwayError {
  override readonly code = 'SW_ERR_COMMIT_UNKNOWN'

  constructor(message = 'The outcome of a COMMIT could not be learned', options?: StreamwayErrorOptions) {
    super(message, options)
    this.name = 'CommitUnknownError'
  }
}

/**
 * The Kafka test broker (`KafkaTestBroker` of `streamway/testing`) was used in a way it does not allow:
 * started twice, asked about a topic it does not have, or asked to decode a record batch compressed
 * with a codec other than gzip. Malformed requests from a client close that client's connection and
 * are logged; they are not thrown.
 */
export class KafkaTestBrokerError extends StreamwayError {
  override readonly code = 'SW_ERR_KAFKA_TEST_BROKER'

  constructor(message = 'The Kafka test broker cannot do this', options?: StreamwayErrorOptions) {
    super(message, options)
    this.name = 'KafkaTestBrokerError'
  }
}

/** Every error class streamway exports, keyed by code. Kept for docs and tests. */
export const errorCodes = {
  SW_ERR: StreamwayError,
  SW_ERR_INVALID_OPTION: InvalidOptionError,
  SW_ERR_ABORTED: AbortError,
  SW_ERR_BATCH_ITEM_TOO_LARGE: BatchItemTooLargeError,
  SW_ERR_INVALID_PARTITION_KEY: InvalidPartitionKeyError,
  SW_ERR_PREMATURE_CLOSE: PrematureCloseError,
  SW_ERR_INVALID_HANDLER_RESULT: InvalidHandlerResultError,
  SW_ERR_UNKNOWN_BATCHER: UnknownBatcherError,
  SW_ERR_MISSING_FROM_BATCH: MissingFromBatchError,
  SW_ERR_PIPELINE_STATE: PipelineStateError,
  SW_ERR_RATE_LIMITING_DISABLED: RateLimitingDisabledError,
  SW_ERR_PRODUCER_RESTARTS_EXHAUSTED: ProducerRestartsExhaustedError,
  SW_ERR_SHUTDOWN_TIMEOUT: ShutdownTimeoutError,
  SW_ERR_MALFORMED_RECORD: MalformedRecordError,
  SW_ERR_ERROR_BUDGET_EXCEEDED: ErrorBudgetExceededError,
  SW_ERR_CHECKPOINT: CheckpointError,
  SW_ERR_SINK_RETRIES_EXHAUSTED: SinkRetriesExhaustedError,
  SW_ERR_HTTP_STATUS: HttpStatusError,
  SW_ERR_ITEM_REJECTED: ItemRejectedError,
  SW_ERR_COMMIT_UNKNOWN: CommitUnknownError,
  SW_ERR_KAFKA_TEST_BROKER: KafkaTestBrokerError,
} as const

/**
 * `error` as an `Error`: a thrown or rejected non-Error becomes an `Error` with the value as `cause`,
 * so streams are always destroyed with an `Error`.
 */
export function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(`Non-error thrown: ${String(error)}`, { cause: error })
}

/** A short, safe rendering of a value for an error message. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'undefined':
      return 'undefined'
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
    case 'number':
    case 'boolean':
      return String(value)
    case 'bigint':
      return `${String(value)}n`
    case 'function':
      return 'a function'
    case 'symbol':
      return 'a symbol'
    default:
      return Array.isArray(value) ? 'an array' : 'an object'
  }
}
