/**
 * The batch processor stage's work on one batch: `handleBatch`, then the acks. A throw fails the
 * whole batch; a message missing from what `handleBatch` returns is logged and acked failed, never
 * lost.
 */
import { InvalidHandlerResultError, MissingFromBatchError } from '../errors.js'
import { isThenable } from '../internal/thenable.js'
import type { Logger } from '../logger.js'
import type { Message } from '../message.js'
import type { Acker } from './acker.js'
import type { BatchInfo, PendingBatch } from './batcher-stage.js'
import type { BatcherCounters } from './metrics.js'
import { channels, logEvents } from './telemetry.js'

/** What a batch processor needs from its pipeline. */
export interface BatchProcessorRuntime {
  readonly name: string
  readonly context: unknown
  readonly logger: Logger
  readonly acker: Acker
  readonly handleBatch: (batcher: string, messages: Message[], info: BatchInfo, context: unknown) => unknown
  readonly counters: BatcherCounters
}

/** Builds the function a batcher's batch processors (`concurrentMap`) call on each batch. */
export function batchProcessorStage(
  rt: BatchProcessorRuntime,
): (batch: PendingBatch) => null | Promise<null> {
  function processBatch(batch: PendingBatch): null | Promise<null> {
    const { messages, info } = batch
    if (batch.rejected) {
      const acked = rt.acker.finish('batcher', [], messages)
      return acked === undefined ? null : acked.then(() => null)
    }
    rt.counters.inBatchProcessors += messages.length
    const t0 =
      channels.batchProcessorStart.hasSubscribers || channels.batchProcessorStop.hasSubscribers
        ? performance.now()
        : 0
    if (t0 !== 0)
      channels.batchProcessorStart.publish({
        pipeline: rt.name,
        batcher: info.batcher,
        messages,
        batchInfo: info,
      })
    let result: unknown
    try {
      result = rt.handleBatch(info.batcher, messages, info, rt.context)
    } catch (error) {
      return finish(batch, failAll(messages, error), t0)
    }
    if (!isThenable(result)) return finish(batch, result, t0)
    return Promise.resolve(result).then(
      (value) => finish(batch, value, t0),
      (error: unknown) => finish(batch, failAll(messages, error), t0),
    )
  }

  function finish(batch: PendingBatch, result: unknown, t0: number): null | Promise<null> {
    const { messages, info } = batch
    let successful: Message[]
    let failed: Message[]
    if (!Array.isArray(result)) {
      const error = new InvalidHandlerResultError('handleBatch', 'an array of the messages', result)
      for (const message of messages) message.failed(error)
      successful = []
      failed = messages
    } else if (sameMessages(messages, result)) {
      // The common case, all of the batch ok: the batch's own array goes to the acks, not a copy.
      const firstFailed = firstFailedAt(messages)
      if (firstFailed === -1) {
        successful = messages
        failed = []
      } else {
        successful = messages.slice(0, firstFailed)
        failed = []
        for (let i = firstFailed; i < messages.length; i++) {
          const message = messages[i] as Message
          ;(message.status.kind === 'ok' ? successful : failed).push(message)
        }
      }
    } else {
      successful = []
      failed = []
      splitReturned(messages, result as unknown[], successful, failed, info.batcher, rt.logger)
    }
    rt.counters.inBatchProcessors -= messages.length
    if (t0 !== 0)
      channels.batchProcessorStop.publish({
        pipeline: rt.name,
        batcher: info.batcher,
        messages,
        batchInfo: info,
        successful: successful.length,
        failed: failed.length,
        duration: performance.now() - t0,
      })
    const acked = rt.acker.finish('batch_processor', successful, failed)
    return acked === undefined ? null : acked.then(() => null)
  }

  return processBatch
}

/** The index of the first failed message, or -1. */
function firstFailedAt(messages: Message[]): number {
  for (let i = 0; i < messages.length; i++) if ((messages[i] as Message).status.kind === 'failed') return i
  return -1
}

function failAll(messages: Message[], error: unknown): Message[] {
  for (const message of messages) message.failed(error)
  return messages
}

/** The common case: `handleBatch` returned its messages, in order. */
function sameMessages(messages: Message[], result: unknown[]): boolean {
  if (result === messages) return true
  if (result.length !== messages.length) return false
  for (let i = 0; i < messages.length; i++) if (result[i] !== messages[i]) return false
  return true
}

/** Any other return: each message of the batch counts once; those not returned fail. */
function splitReturned(
  messages: Message[],
  result: unknown[],
  successful: Message[],
  failed: Message[],
  batcher: string,
  logger: Logger,
): void {
  const returned = new Set(result)
  let missing = 0
  for (const message of messages) {
    if (!returned.has(message)) {
      missing++
      failed.push(message.failed(new MissingFromBatchError(batcher)))
    } else (message.status.kind === 'ok' ? successful : failed).push(message)
  }
  if (missing > 0)
    logger.error(
      { event: logEvents.missingFromBatch, batcher, missing, batchSize: messages.length },
      '`handleBatch` did not return every message of its batch; the missing ones are acked failed',
    )
}
