/**
 * `Message`: what flows through a pipeline — the data, where it came from (`metadata`), who to tell
 * when it is done (`acknowledger`), whether it failed (`status`), and where it goes next (`batcher`,
 * `batchKey`, `batchMode`). Helpers mutate the message and return it, so a handler can end with
 * `return message.putBatcher('http')`.
 */
import { InvalidOptionError, describeValue } from './errors.js'

/**
 * Told when messages are done: the engine groups the messages of a step by acknowledger and calls
 * `ack` once per group. Every message is acked exactly once, successful or failed.
 */
export interface Acknowledger<T = unknown> {
  /** Called once per group of finished messages; may return a promise (the engine waits for it). */
  ack(successful: Message<T>[], failed: Message<T>[]): void | PromiseLike<void>
  /**
   * Called by `message.configureAck(options)`: returns the message's new `ackData`. Broadway's
   * `configure/3`; an acknowledger without it rejects `configureAck`.
   */
  configure?(ackData: unknown, options: unknown, message: Message<T>): unknown
}

/** A message that went well. */
export interface OkStatus {
  readonly kind: 'ok'
}

/** A message that failed, and why (the thrown error, or the reason given to `failed`). */
export interface FailedStatus {
  readonly kind: 'failed'
  readonly reason: unknown
}

/** Where a message stands: ok until something fails it. */
export type MessageStatus = OkStatus | FailedStatus

/** How a batcher treats the message: `'bulk'` waits for a full batch or the timeout, `'flush'` emits at once. */
export type BatchMode = 'bulk' | 'flush'

/** Fields a `Message` may be built with. */
export interface MessageInit<M> {
  metadata?: M
  acknowledger?: Acknowledger
  ackData?: unknown
}

/** @internal When a group of messages entered a pipeline (`performance.now()`). */
export interface EntryStamp {
  readonly at: number
}

const OK: OkStatus = Object.freeze({ kind: 'ok' })
const NO_METADATA: Readonly<Record<string, unknown>> = Object.freeze({})

/** An acknowledger that does nothing, for messages whose source needs no acknowledgement. */
export const noopAcknowledger: Acknowledger = Object.freeze({
  ack() {
    // nothing to tell
  },
})

/** One unit of work in a pipeline. See the module comment. */
export class Message<T = unknown, M = Readonly<Record<string, unknown>>> {
  /** The payload. */
  data: T
  /** Where the message came from (file and line, topic and offset…). */
  metadata: M
  /** Told once when the message is done. */
  acknowledger: Acknowledger
  /** Per-message data for the acknowledger (an offset, a delivery tag…). */
  ackData: unknown
  /** Ok, or failed with a reason. */
  status: MessageStatus = OK
  /** Name of the batcher the message goes to after the processors. */
  batcher = 'default'
  /** Key of the batch within the batcher: one open batch per key. */
  batchKey: unknown = 'default'
  /** `'flush'` makes the batcher emit the message's batch at once. */
  batchMode: BatchMode = 'bulk'
  /**
   * @internal When the message entered the pipeline, for latency: one stamp shared by the messages
   * that entered together (no number boxed per message); `null` before.
   */
  entered: EntryStamp | null = null
  /** @internal The batcher lane chosen for the message by the processor stage. */
  lane = 0
  /**
   * Failed before the processors: a record its source could not parse, an event `producer.transform`
   * could not turn into a message, a partition key with no partition. The processors skip it (its
   * `data` is raw input, not `T`) and ack it failed with its first reason. Sources set it with
   * `failed(reason)` for malformed records.
   */
  skipProcessing = false

  constructor(data: T, init?: MessageInit<M>) {
    this.data = data
    this.metadata = init?.metadata ?? (NO_METADATA as M)
    this.acknowledger = init?.acknowledger ?? noopAcknowledger
    this.ackData = init?.ackData
  }

  /** Marks the message failed with `reason`; it is acked as failed and goes to `handleFailed`. */
  failed(reason: unknown): this {
    this.status = { kind: 'failed', reason }
    return this
  }

  /** True when the message has failed. */
  get isFailed(): boolean {
    return this.status.kind === 'failed'
  }

  /** Sends the message to the batcher named `batcher` after the processors. */
  putBatcher(batcher: string): this {
    if (typeof batcher !== 'string' || batcher === '')
      throw new InvalidOptionError(
        'batcher',
        `\`batcher\` must be a non-empty string, got ${describeValue(batcher)}`,
        batcher,
      )
    this.batcher = batcher
    return this
  }

  /** Puts the message in the batch of `batchKey` within its batcher. */
  putBatchKey(batchKey: unknown): this {
    this.batchKey = batchKey
    return this
  }

  /** `'flush'` emits the message's batch as soon as the batcher has it; `'bulk'` (default) waits. */
  putBatchMode(batchMode: BatchMode): this {
    const given: unknown = batchMode
    if (given !== 'bulk' && given !== 'flush')
      throw new InvalidOptionError(
        'batchMode',
        `\`batchMode\` must be 'bulk' or 'flush', got ${describeValue(batchMode)}`,
        batchMode,
      )
    this.batchMode = batchMode
    return this
  }

  /** Asks the acknowledger to configure how this message is acked (e.g. requeue on failure). */
  configureAck(options: unknown): this {
    const acknowledger = this.acknowledger
    if (acknowledger.configure === undefined)
      throw new InvalidOptionError('acknowledger', 'The message’s acknowledger does not support configureAck')
    this.ackData = acknowledger.configure(this.ackData, options, this as unknown as Message<never>)
    return this
  }

  /** Replaces the data with `fn(data)`. */
  updateData<U>(fn: (data: T) => U): Message<U, M> {
    const self = this as unknown as Message<U, M>
    self.data = fn(this.data)
    return self
  }

  /** Replaces the data. */
  putData<U>(data: U): Message<U, M> {
    const self = this as unknown as Message<U, M>
    self.data = data
    return self
  }
}

/** A short label for a failure reason, for metrics and logs: an error's `code` or `name`, or the text. */
export function reasonLabel(reason: unknown): string {
  if (reason instanceof Error) {
    const code = (reason as { code?: unknown }).code
    return typeof code === 'string' ? code : reason.name
  }
  if (typeof reason === 'string') return reason.length > 60 ? `${reason.slice(0, 60)}…` : reason
  return describeValue(reason)
}
