/**
 * Metrics a running pipeline keeps, cheap enough for the hot path (counters, and a log-bucketed
 * latency histogram: one array increment per acked message), and the snapshot `metrics()` returns.
 */
import type { BatchTrigger } from '../internal/batch-builder.js'

/** Latency buckets: 8 per power of two from 1 µs, i.e. within ~9% of the true value. */
const SUB_BUCKETS = 8
const BUCKETS = SUB_BUCKETS * 40
/** `2 ** -e`, exact: scaling by it is the division `record` needs, without a `Math.log2` and a `**` per call. */
const INVERSE_POWERS = Float64Array.from({ length: 64 }, (_, e) => 2 ** -e)

/** A latency histogram in milliseconds with ~9% relative error and O(1) recording. */
export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS)
  #count = 0
  #max = 0

  /** Records `count` observations of `ms`. */
  record(ms: number, count = 1): void {
    const micros = ms * 1000
    let index = 0
    if (micros >= 1) {
      // floor(log2(micros)): exact from the leading zeros below 2^32 µs (71 minutes), else the slow way.
      const exponent = micros < 4294967296 ? 31 - Math.clz32(micros) : Math.floor(Math.log2(micros))
      const fraction = micros * (INVERSE_POWERS[exponent] ?? 2 ** -exponent) - 1 // in [0, 1)
      index = Math.min(BUCKETS - 1, exponent * SUB_BUCKETS + Math.floor(fraction * SUB_BUCKETS))
    }
    this.#counts[index] = (this.#counts[index] ?? 0) + count
    this.#count += count
    if (ms > this.#max) this.#max = ms
  }

  /** Observations recorded. */
  get count(): number {
    return this.#count
  }

  /** The largest observation. */
  get max(): number {
    return this.#max
  }

  /** The `p`-th percentile (0–100) in milliseconds: the upper edge of its bucket, capped at `max`. */
  percentile(p: number): number {
    if (this.#count === 0) return 0
    const rank = Math.ceil((p / 100) * this.#count)
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i] ?? 0
      if (seen >= rank && seen > 0) {
        const exponent = Math.floor(i / SUB_BUCKETS)
        const upper = (2 ** exponent * (1 + ((i % SUB_BUCKETS) + 1) / SUB_BUCKETS)) / 1000
        return Math.min(upper, this.#max)
      }
    }
    return this.#max
  }
}

/** Counters of one batcher. */
export class BatcherCounters {
  batches = 0
  messages = 0
  maxSize = 0
  /** Messages in open batches or in `handleBatch` now. */
  inBatches = 0
  inBatchProcessors = 0
  readonly triggers: Record<BatchTrigger, number> = { size: 0, timeout: 0, flush: 0, end: 0 }
}

/** What `Pipeline.metrics()` returns. */
export interface MetricsSnapshot {
  /** Milliseconds since `start()`. */
  readonly uptimeMs: number
  readonly messages: {
    /** Messages taken from producers and the test API. */
    readonly received: number
    readonly successful: number
    readonly failed: number
    /** Received and not yet acked. */
    readonly inFlight: number
  }
  /** Acked messages per second since `start()`. */
  readonly throughputPerSecond: number
  /** Time from intake to ack, in milliseconds. */
  readonly latencyMs: {
    readonly p50: number
    readonly p95: number
    readonly p99: number
    readonly max: number
  }
  /** Failed messages by reason label (an error's `code` or `name`, or the reason text). */
  readonly failuresByReason: Readonly<Record<string, number>>
  /** Messages inside each stage now. */
  readonly inFlight: {
    readonly processors: number
    readonly batchers: Readonly<Record<string, number>>
    readonly batchProcessors: Readonly<Record<string, number>>
  }
  /** Per batcher: batches emitted, their sizes, and why they were emitted. */
  readonly batches: Readonly<
    Record<
      string,
      {
        readonly count: number
        /** Messages in those batches. */
        readonly messages: number
        readonly meanSize: number
        readonly maxSize: number
        readonly triggers: Readonly<Record<BatchTrigger, number>>
      }
    >
  >
  /** Producer restarts after crashes. */
  readonly producerRestarts: number
}

/** The live counters of a pipeline. */
export class PipelineMetrics {
  readonly startedAt = performance.now()
  received = 0
  successful = 0
  failed = 0
  inProcessors = 0
  producerRestarts = 0
  readonly latency = new LatencyHistogram()
  readonly failures = new Map<string, number>()
  readonly batchers = new Map<string, BatcherCounters>()

  constructor(batcherNames: readonly string[]) {
    for (const name of batcherNames) this.batchers.set(name, new BatcherCounters())
  }

  /** Messages received and not acked yet. */
  get inFlight(): number {
    return this.received - this.successful - this.failed
  }

  /** Counts `count` failures with `label`. */
  countFailure(label: string, count = 1): void {
    this.failures.set(label, (this.failures.get(label) ?? 0) + count)
  }

  /** A frozen snapshot of every figure. */
  snapshot(): MetricsSnapshot {
    const uptimeMs = performance.now() - this.startedAt
    const batchers: Record<string, number> = {}
    const batchProcessors: Record<string, number> = {}
    const batches: Record<string, MetricsSnapshot['batches'][string]> = {}
    for (const [name, c] of this.batchers) {
      batchers[name] = c.inBatches
      batchProcessors[name] = c.inBatchProcessors
      batches[name] = {
        count: c.batches,
        messages: c.messages,
        meanSize: c.batches === 0 ? 0 : c.messages / c.batches,
        maxSize: c.maxSize,
        triggers: { ...c.triggers },
      }
    }
    return deepFreeze({
      uptimeMs,
      messages: {
        received: this.received,
        successful: this.successful,
        failed: this.failed,
        inFlight: this.inFlight,
      },
      throughputPerSecond: uptimeMs === 0 ? 0 : ((this.successful + this.failed) * 1000) / uptimeMs,
      latencyMs: {
        p50: this.latency.percentile(50),
        p95: this.latency.percentile(95),
        p99: this.latency.percentile(99),
        max: this.latency.max,
      },
      failuresByReason: Object.fromEntries(this.failures),
      inFlight: { processors: this.inProcessors, batchers, batchProcessors },
      batches,
      producerRestarts: this.producerRestarts,
    })
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}
