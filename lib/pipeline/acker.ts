/**
 * The end of a message's way: `handleFailed` on the failed ones, then one `ack(successful, failed)`
 * call per acknowledger of the group, then the counters. Runs inside the last stage a message goes
 * through (a processor without batchers, a batch processor with them), as Broadway acks in its
 * processors and batch processors.
 */
import { toError } from '../errors.js'
import { isThenable } from '../internal/thenable.js'
import type { Logger } from '../logger.js'
import { reasonLabel, type Acknowledger, type EntryStamp, type Message } from '../message.js'
import type { PipelineMetrics } from './metrics.js'
import { channels, logEvents } from './telemetry.js'

/** What the acker needs from its pipeline. */
export interface AckerRuntime {
  readonly name: string
  readonly context: unknown
  readonly logger: Logger
  readonly metrics: PipelineMetrics
  readonly handleFailed: ((messages: Message[], context: unknown) => unknown) | undefined
}

/** See the module comment. */
export class Acker {
  readonly #rt: AckerRuntime
  #stopped = false

  constructor(runtime: AckerRuntime) {
    this.#rt = runtime
  }

  /** True once the stages were torn down: nothing is acked any more. */
  get stopped(): boolean {
    return this.#stopped
  }

  /** Stops acking: handlers still running after a teardown leave their messages unacked, as reported. */
  stop(): void {
    this.#stopped = true
  }

  /**
   * Finishes a group: `handleFailed(failed)` first (if it throws, the messages are still acked as
   * failed), then the acks. Returns a promise only when a callback did.
   */
  finish(stage: string, successful: Message[], failed: Message[]): void | Promise<void> {
    if (this.#stopped) return
    const handleFailed = this.#rt.handleFailed
    if (failed.length === 0 || handleFailed === undefined) return this.#ack(stage, successful, failed)
    let result: unknown
    try {
      result = handleFailed(failed, this.#rt.context)
    } catch (error) {
      this.#handleFailedThrew(stage, failed, error)
      return this.#ack(stage, successful, failed)
    }
    // Messages are changed in place, so what handleFailed returns adds nothing: the given ones are acked.
    if (!isThenable(result)) return this.#ack(stage, successful, failed)
    return Promise.resolve(result).then(
      () => this.#ack(stage, successful, failed),
      (error: unknown) => {
        this.#handleFailedThrew(stage, failed, error)
        return this.#ack(stage, successful, failed)
      },
    )
  }

  #handleFailedThrew(stage: string, failed: Message[], error: unknown): void {
    this.#rt.logger.error(
      { event: logEvents.handleFailedThrew, stage, messages: failed.length, err: toError(error) },
      '`handleFailed` threw; the messages are acked as failed',
    )
  }

  #ack(stage: string, successful: Message[], failed: Message[]): void | Promise<void> {
    if (this.#stopped) return // torn down while handleFailed ran
    const first = successful[0] ?? failed[0]
    if (first === undefined) return
    const acknowledger = first.acknowledger
    // One pass over each list records the latencies and checks for a single acknowledger.
    const metrics = this.#rt.metrics
    const now = performance.now()
    const okSingle = recordLatency(metrics, now, successful, acknowledger)
    const single = recordLatency(metrics, now, failed, acknowledger) && okSingle
    this.#count(stage, successful, failed)
    let pending: Promise<void>[] | undefined
    if (single) {
      pending = this.#call(acknowledger, successful, failed, pending)
    } else {
      for (const [ackr, group] of groupByAcknowledger(successful, failed))
        pending = this.#call(ackr, group.successful, group.failed, pending)
    }
    if (channels.ack.hasSubscribers)
      channels.ack.publish({ pipeline: this.#rt.name, stage, successful, failed })
    if (pending === undefined) return
    return Promise.all(pending).then(noop)
  }

  #call(
    acknowledger: Acknowledger,
    successful: Message[],
    failed: Message[],
    pending: Promise<void>[] | undefined,
  ): Promise<void>[] | undefined {
    try {
      const result = acknowledger.ack(successful, failed)
      if (!isThenable(result)) return pending
      const promise = Promise.resolve(result).then(noop, (error: unknown) => {
        this.#ackThrew(successful.length + failed.length, error)
      })
      return pending === undefined ? [promise] : (pending.push(promise), pending)
    } catch (error) {
      this.#ackThrew(successful.length + failed.length, error)
      return pending
    }
  }

  #ackThrew(messages: number, error: unknown): void {
    this.#rt.logger.error(
      { event: logEvents.ackThrew, messages, err: toError(error) },
      'An acknowledger threw; its messages count as acked',
    )
  }

  /** Counts the group (its latencies are recorded already) and its failures by reason. */
  #count(stage: string, successful: Message[], failed: Message[]): void {
    const metrics = this.#rt.metrics
    metrics.successful += successful.length
    metrics.failed += failed.length
    if (failed.length === 0) return
    const reasons = new Map<string, number>()
    let firstError: unknown
    for (const message of failed) {
      const reason = message.status.kind === 'failed' ? message.status.reason : undefined
      const label = reasonLabel(reason)
      reasons.set(label, (reasons.get(label) ?? 0) + 1)
      firstError ??= reason
    }
    for (const [label, count] of reasons) metrics.countFailure(label, count)
    // With a handleFailed, the failures are already in the user's hands (a dead letter): a line per
    // group would only repeat them, so it is debug; without one, this line is all there is.
    const level = this.#rt.handleFailed === undefined ? 'warn' : 'debug'
    if (!this.#rt.logger.isLevelEnabled(level)) return
    this.#rt.logger[level](
      {
        event: logEvents.messageFailed,
        stage,
        messages: failed.length,
        reasons: Object.fromEntries(reasons),
        err: firstError instanceof Error ? firstError : undefined,
      },
      'Messages failed',
    )
  }
}

function groupByAcknowledger(
  successful: Message[],
  failed: Message[],
): Map<Acknowledger, { successful: Message[]; failed: Message[] }> {
  const groups = new Map<Acknowledger, { successful: Message[]; failed: Message[] }>()
  const groupOf = (acknowledger: Acknowledger) => {
    let group = groups.get(acknowledger)
    if (group === undefined) {
      group = { successful: [], failed: [] }
      groups.set(acknowledger, group)
    }
    return group
  }
  for (const message of successful) groupOf(message.acknowledger).successful.push(message)
  for (const message of failed) groupOf(message.acknowledger).failed.push(message)
  return groups
}

/**
 * Records each message's latency (runs of messages that entered together at once) and tells whether
 * every message has `acknowledger`: both in one pass, the acks' only walk over the messages.
 */
function recordLatency(
  metrics: PipelineMetrics,
  now: number,
  messages: Message[],
  acknowledger: Acknowledger,
): boolean {
  let single = true
  let run = 0
  let entered: EntryStamp | null = null
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as Message
    if (message.acknowledger !== acknowledger) single = false
    if (message.entered === entered) run++
    else {
      if (run > 0 && entered !== null) metrics.latency.record(now - entered.at, run)
      entered = message.entered
      run = 1
    }
  }
  if (run > 0 && entered !== null) metrics.latency.record(now - entered.at, run)
  return single
}

function noop(): void {
  // the acks are done
}
