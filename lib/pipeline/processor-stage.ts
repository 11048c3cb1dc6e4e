/**
 * The processor stage's work on one array of messages (one processor's demand): `prepareMessages`,
 * then `handleMessage` on each, with failures caught per message; then either the acks (no
 * batchers) or the acks of the failed ones and the batcher lane of each successful one.
 *
 * Synchronous callbacks cost no promise: the stage goes async only from the first callback that
 * returns a promise.
 */
import { InvalidHandlerResultError, UnknownBatcherError } from '../errors.js'
import { isThenable } from '../internal/thenable.js'
import { Message } from '../message.js'
import { laneOf } from '../streams/partition.js'
import type { Acker } from './acker.js'
import type { PipelineMetrics } from './metrics.js'
import { channels } from './telemetry.js'

/** Where messages of one batcher go: its first lane, and how to pick among its lanes. */
export interface BatcherRoute {
  readonly name: string
  readonly firstLane: number
  readonly lanes: number
  readonly partitionBy: ((message: Message) => unknown) | undefined
}

/** What a processor needs from its pipeline. */
export interface ProcessorRuntime {
  readonly name: string
  readonly context: unknown
  readonly metrics: PipelineMetrics
  readonly acker: Acker
  readonly handleMessage: (processor: string, message: Message, context: unknown) => unknown
  readonly prepareMessages: ((messages: Message[], context: unknown) => unknown) | undefined
  /** Batcher routes by name; `undefined` when the pipeline has no batchers. */
  readonly batchers: ReadonlyMap<string, BatcherRoute> | undefined
}

const PROCESSOR = 'default'
/** What `call` returns when `handleMessage` threw. */
const THREW = Symbol('threw')

type Output = Message[] | null

/** Builds the function the processors' `concurrentMap` calls on each array. */
export function processorStage(rt: ProcessorRuntime): (chunk: Message[]) => Output | Promise<Output> {
  const context = rt.context
  const handleMessage = rt.handleMessage
  const prepareMessages = rt.prepareMessages

  function processChunk(chunk: Message[]): Output | Promise<Output> {
    rt.metrics.inProcessors += chunk.length
    const startedAt =
      channels.processorStart.hasSubscribers || channels.processorStop.hasSubscribers ? now() : 0
    if (startedAt !== 0)
      channels.processorStart.publish({ pipeline: rt.name, processor: PROCESSOR, messages: chunk })
    // Without prepareMessages, handleFrom skips the skipped messages itself: no pass to filter them.
    if (prepareMessages === undefined) return handleFrom(chunk, chunk, 0, startedAt)
    const work = chunk.some(skipped) ? chunk.filter(notSkipped) : chunk
    if (work.length === 0) return settle(chunk, startedAt)
    let prepared: unknown
    try {
      prepared = prepareMessages(work, context)
    } catch (error) {
      // Broadway: a throw in prepare_messages fails the whole group, and handle_message is not called.
      for (const message of work) message.failed(error)
      return settle(chunk, startedAt)
    }
    if (isThenable(prepared))
      return Promise.resolve(prepared).then(
        (value) => afterPrepare(chunk, work, value, startedAt),
        (error: unknown) => {
          for (const message of work) message.failed(error)
          return settle(chunk, startedAt)
        },
      )
    return afterPrepare(chunk, work, prepared, startedAt)
  }

  function afterPrepare(
    chunk: Message[],
    work: Message[],
    prepared: unknown,
    startedAt: number,
  ): Output | Promise<Output> {
    if (!sameMembers(work, prepared)) {
      const error = new InvalidHandlerResultError(
        'prepareMessages',
        `the ${String(work.length)} messages it was given`,
        prepared,
      )
      for (const message of work) message.failed(error)
      return settle(chunk, startedAt)
    }
    return handleFrom(chunk, prepared, 0, startedAt)
  }

  /** Handles `messages` from `start` on, synchronously until a callback returns a promise. */
  function handleFrom(
    chunk: Message[],
    messages: Message[],
    start: number,
    startedAt: number,
  ): Output | Promise<Output> {
    const traced = channels.messageStart.hasSubscribers || channels.messageStop.hasSubscribers
    for (let i = start; i < messages.length; i++) {
      const message = messages[i] as Message
      if (message.skipProcessing) continue
      const t0 = traced ? beginMessage(message) : 0
      const result = call(message, t0, traced)
      // The common returns first: no `then` lookup on a message.
      if (result !== message && result !== undefined) {
        if (result === THREW) continue
        if (isThenable(result)) return continueAsync(chunk, messages, i, result, t0, traced, startedAt)
        returned(message, result)
      }
      if (traced) endMessage(message, t0, undefined)
    }
    return settle(chunk, startedAt)
  }

  /** The rest of a group once a handler returned a promise: one `await` per async message. */
  async function continueAsync(
    chunk: Message[],
    messages: Message[],
    index: number,
    pending: PromiseLike<unknown>,
    t0: number,
    traced: boolean,
    startedAt: number,
  ): Promise<Output> {
    let i = index
    let result = pending
    let t = t0
    for (;;) {
      const message = messages[i] as Message
      try {
        returned(message, await result)
        if (traced) endMessage(message, t, undefined)
      } catch (error) {
        message.failed(error)
        if (traced) endMessage(message, t, error)
      }
      // Synchronously on to the next handler that returns a promise.
      for (;;) {
        // Torn down meanwhile: the rest stays unacked, as reported.
        if (++i >= messages.length || rt.acker.stopped) return settle(chunk, startedAt)
        const next = messages[i] as Message
        if (next.skipProcessing) continue
        t = traced ? beginMessage(next) : 0
        const value = call(next, t, traced)
        if (value === THREW) continue
        if (isThenable(value)) {
          result = value
          break
        }
        returned(next, value)
        if (traced) endMessage(next, t, undefined)
      }
    }
  }

  /** Calls `handleMessage`; a throw fails the message (ending its trace) and gives `THREW`. */
  function call(message: Message, t0: number, traced: boolean): unknown {
    try {
      return handleMessage(PROCESSOR, message, context)
    } catch (error) {
      message.failed(error)
      if (traced) endMessage(message, t0, error)
      return THREW
    }
  }

  function beginMessage(message: Message): number {
    channels.messageStart.publish({ pipeline: rt.name, processor: PROCESSOR, message })
    return now()
  }

  function endMessage(message: Message, t0: number, error: unknown): void {
    const duration = now() - t0
    if (error === undefined)
      channels.messageStop.publish({ pipeline: rt.name, processor: PROCESSOR, message, duration })
    else
      channels.messageException.publish({ pipeline: rt.name, processor: PROCESSOR, message, error, duration })
  }

  /** Splits the handled messages, acks what ends here, and returns what goes on to the batchers. */
  function settle(chunk: Message[], startedAt: number): Output | Promise<Output> {
    const routes = rt.batchers
    // Handlers return the messages they were given, so the chunk holds every message, skipped ones
    // too. Until a message fails, the chunk itself is the list of successful ones: no copy.
    let successful = chunk
    let failed: Message[] | undefined
    let name: string | undefined
    let batcher: BatcherRoute | undefined
    for (let i = 0; i < chunk.length; i++) {
      const message = chunk[i] as Message
      let ok = message.status.kind !== 'failed'
      if (ok && routes !== undefined) {
        // Messages of a chunk mostly share their batcher: look its route up once per change.
        if (message.batcher !== name) {
          name = message.batcher
          batcher = routes.get(name)
        }
        ok = route(batcher, routes, message)
      }
      if (failed === undefined) {
        if (ok) continue
        successful = chunk.slice(0, i)
        failed = [message]
      } else (ok ? successful : failed).push(message)
    }
    rt.metrics.inProcessors -= chunk.length
    if (startedAt !== 0)
      channels.processorStop.publish({
        pipeline: rt.name,
        processor: PROCESSOR,
        messages: chunk,
        successful: successful.length,
        failed: failed?.length ?? 0,
        duration: now() - startedAt,
      })
    const forward = routes === undefined || successful.length === 0 ? null : successful
    const acked =
      routes === undefined
        ? rt.acker.finish('processor', successful, failed ?? [])
        : failed !== undefined
          ? rt.acker.finish('processor', [], failed)
          : undefined
    if (acked === undefined) return forward
    return acked.then(() => forward)
  }

  return processChunk
}

/**
 * Picks the message's lane within `batcher` (its route, `undefined` when no batcher has its name)
 * into `message.lane`; fails the message and returns false if it has none.
 */
function route(
  batcher: BatcherRoute | undefined,
  routes: ReadonlyMap<string, BatcherRoute>,
  message: Message,
): boolean {
  if (batcher === undefined) {
    message.failed(new UnknownBatcherError(message.batcher, [...routes.keys()]))
    return false
  }
  if (batcher.partitionBy === undefined) {
    message.lane = batcher.firstLane
    return true
  }
  try {
    message.lane = batcher.firstLane + laneOf(batcher.partitionBy(message), batcher.lanes)
    return true
  } catch (error) {
    message.failed(error)
    return false
  }
}

/** Checks what `handleMessage` returned: the message itself or nothing; else the message fails. */
function returned(message: Message, result: unknown): void {
  if (result === undefined || result === message) return
  // Another Message would drop this one's acknowledger, and this message would never be acked.
  message.failed(
    new InvalidHandlerResultError('handleMessage', 'the message it was given (or nothing)', result),
  )
}

function skipped(message: Message): boolean {
  return message.skipProcessing
}

function notSkipped(message: Message): boolean {
  return !message.skipProcessing
}

/** `prepared` holds exactly the messages of `chunk`, each once, in any order. */
function sameMembers(chunk: Message[], prepared: unknown): prepared is Message[] {
  if (prepared === chunk) return true
  if (!Array.isArray(prepared) || prepared.length !== chunk.length) return false
  const given = new Set<unknown>(chunk)
  for (const message of prepared) if (!given.delete(message)) return false
  return true
}

function now(): number {
  return performance.now()
}
