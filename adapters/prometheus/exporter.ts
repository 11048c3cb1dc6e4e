/**
 * Prometheus exposition of pipelines' metrics through prom-client. Nothing is counted twice: each
 * metric reads `pipeline.metrics()` at scrape time (one snapshot per pipeline per scrape, shared by
 * all the metrics of that scrape), so the engine's hot path pays nothing for it.
 */
import { Counter, Gauge, Registry } from 'prom-client'
import { z } from 'zod'
import { InvalidOptionError } from '../../lib/errors.js'
import type { MetricsSnapshot } from '../../lib/pipeline/metrics.js'
import { boolean, parseOptions, type ResolvedOptions } from '../../lib/options.js'

/** What the exporter reads: a `Pipeline`, or anything with a name and the same `metrics()`. */
export interface MetricsSource {
  readonly name: string
  metrics(): MetricsSnapshot
}

/** The part of a prom-client `Registry` the exporter uses (a registry from another copy of prom-client works too). */
export interface RegistryLike {
  registerMetric(metric: Counter | Gauge): void
  removeSingleMetric(name: string): void
  metrics(): Promise<string>
  readonly contentType: string
}

const isRegistry = (value: unknown): value is RegistryLike =>
  value instanceof Registry ||
  (typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<RegistryLike>).registerMetric === 'function' &&
    typeof (value as Partial<RegistryLike>).metrics === 'function' &&
    typeof (value as Partial<RegistryLike>).removeSingleMetric === 'function')

/** Schema of `PrometheusExporter`'s options; the docs table and the type come from it. */
export const prometheusExporterOptionsSchema = z.strictObject({
  registry: z.custom<RegistryLike>(isRegistry, { error: 'must be a prom-client Registry' }).optional().meta({
    description:
      "The prom-client registry to register the metrics in (prom-client's global `register`, say). By default a new `Registry`, `exporter.registry`.",
  }),
  prefix: z
    .string({ error: 'must be a string' })
    .regex(/^(?:[a-zA-Z_][a-zA-Z0-9_]*)?$/, {
      error: 'must be empty or start a Prometheus metric name ([a-zA-Z_][a-zA-Z0-9_]*)',
    })
    .default('streamway_')
    .meta({ description: 'Prepended to every metric name (may be empty).' }),
  failureReasons: boolean().default(true).meta({
    description:
      'Export `message_failures_total` by `reason` (an error `code`, else its `name`, else the reason text). Turn it off if your failure reasons are free text: each distinct reason is a time series.',
  }),
})

/** Options of `PrometheusExporter`. */
export type PrometheusExporterOptions = z.input<typeof prometheusExporterOptionsSchema>

type Labels = Record<string, string>
/** One time series of a family: its labels besides `pipeline`, and its value. */
type Sample = readonly [labels: Labels, value: number]

/** A metric family: how to read its samples from one pipeline's snapshot. */
interface Family {
  readonly kind: 'counter' | 'gauge'
  readonly name: string
  readonly help: string
  readonly labelNames: readonly string[]
  readonly samples: (snapshot: MetricsSnapshot) => readonly Sample[]
  /** How prom-client's cluster registry joins the workers' values (default: their sum). */
  readonly aggregator?: 'max'
}

const byName = <V>(record: Readonly<Record<string, V>>, label: string, value: (v: V) => number): Sample[] =>
  Object.entries(record).map(([name, v]) => [{ [label]: name }, value(v)])

const families: readonly Family[] = [
  {
    kind: 'counter',
    name: 'messages_received_total',
    help: 'Messages taken from the producers and the test API.',
    labelNames: [],
    samples: (s) => [[{}, s.messages.received]],
  },
  {
    kind: 'counter',
    name: 'messages_acked_total',
    help: 'Messages acked, by status: successful or failed.',
    labelNames: ['status'],
    samples: (s) => [
      [{ status: 'successful' }, s.messages.successful],
      [{ status: 'failed' }, s.messages.failed],
    ],
  },
  {
    kind: 'counter',
    name: 'message_failures_total',
    help: 'Failed messages by reason: an error code, else an error name, else the reason text.',
    labelNames: ['reason'],
    samples: (s) => byName(s.failuresByReason, 'reason', (n) => n),
  },
  {
    kind: 'gauge',
    name: 'messages_in_flight',
    help: 'Messages received and not acked yet.',
    labelNames: [],
    samples: (s) => [[{}, s.messages.inFlight]],
  },
  {
    kind: 'gauge',
    name: 'processor_messages',
    help: 'Messages in the processors now.',
    labelNames: [],
    samples: (s) => [[{}, s.inFlight.processors]],
  },
  {
    kind: 'gauge',
    name: 'batcher_messages',
    help: 'Messages in the open batches of a batcher now.',
    labelNames: ['batcher'],
    samples: (s) => byName(s.inFlight.batchers, 'batcher', (n) => n),
  },
  {
    kind: 'gauge',
    name: 'batch_processor_messages',
    help: "Messages in a batcher's handleBatch calls now.",
    labelNames: ['batcher'],
    samples: (s) => byName(s.inFlight.batchProcessors, 'batcher', (n) => n),
  },
  {
    kind: 'counter',
    name: 'batches_total',
    help: 'Batches emitted, by batcher and trigger: size, timeout, flush or end.',
    labelNames: ['batcher', 'trigger'],
    samples: (s) =>
      Object.entries(s.batches).flatMap(([batcher, b]) =>
        Object.entries(b.triggers).map(([trigger, n]): Sample => [{ batcher, trigger }, n]),
      ),
  },
  {
    kind: 'counter',
    name: 'batched_messages_total',
    help: 'Messages in the batches emitted, by batcher.',
    labelNames: ['batcher'],
    samples: (s) => byName(s.batches, 'batcher', (b) => b.messages),
  },
  {
    kind: 'gauge',
    name: 'batch_size_max',
    help: 'The largest batch a batcher emitted, in messages.',
    labelNames: ['batcher'],
    samples: (s) => byName(s.batches, 'batcher', (b) => b.maxSize),
    aggregator: 'max',
  },
  {
    kind: 'gauge',
    name: 'ack_latency_seconds',
    help: 'Time from intake to ack: quantiles 0.5, 0.95 and 0.99 (within about 9%), and 1 (the longest).',
    labelNames: ['quantile'],
    samples: ({ latencyMs: l }) => [
      [{ quantile: '0.5' }, l.p50 / 1000],
      [{ quantile: '0.95' }, l.p95 / 1000],
      [{ quantile: '0.99' }, l.p99 / 1000],
      [{ quantile: '1' }, l.max / 1000],
    ],
    aggregator: 'max',
  },
  {
    kind: 'counter',
    name: 'producer_restarts_total',
    help: 'Producers restarted after a crash.',
    labelNames: [],
    samples: (s) => [[{}, s.producerRestarts]],
  },
  {
    kind: 'gauge',
    name: 'uptime_seconds',
    help: 'Seconds since the pipeline started.',
    labelNames: [],
    samples: (s) => [[{}, s.uptimeMs / 1000]],
    aggregator: 'max',
  },
]

/**
 * Exports the metrics of one or more pipelines in a prom-client registry, each series labelled with
 * its pipeline's `name`. Serve `await exporter.metrics()` with `exporter.contentType` on your
 * `/metrics` route, or pass your own `registry` (prom-client's global `register`, with
 * `collectDefaultMetrics`) and serve that.
 *
 * Before a pipeline's `start()` its counts are zeros; after its stop they keep their last values.
 * A pipeline cannot start twice: counters start from 0 again only in a new process, or for a new
 * pipeline added under the name of one removed (Prometheus' `rate()` reads either as a reset).
 */
export class PrometheusExporter {
  /** The registry the metrics are registered in. */
  readonly registry: RegistryLike
  readonly #sources = new Map<string, MetricsSource>()
  readonly #names: string[] = []
  /** This scrape's snapshots: every metric of one `registry.metrics()` reads the same one. */
  #snapshots: Map<MetricsSource, MetricsSnapshot> | undefined

  constructor(options?: PrometheusExporterOptions) {
    const o: ResolvedOptions<typeof prometheusExporterOptionsSchema> = parseOptions(
      prometheusExporterOptionsSchema,
      options,
    )
    this.registry = o.registry ?? new Registry()
    for (const family of families) {
      if (family.name === 'message_failures_total' && !o.failureReasons) continue
      const name = o.prefix + family.name
      try {
        this.#register(name, family)
      } catch (error) {
        this.unregister()
        throw new InvalidOptionError(
          'options.prefix',
          `a metric named "${name}" is registered in this registry already: give each exporter of one registry its own \`prefix\``,
          o.prefix,
          { cause: error },
        )
      }
    }
  }

  #register(name: string, family: Family): void {
    const read = (set: (labels: Labels, value: number) => void) => {
      for (const source of this.#sources.values())
        for (const [labels, value] of family.samples(this.#snapshotOf(source)))
          set({ pipeline: source.name, ...labels }, value)
    }
    const config = {
      name,
      help: family.help,
      labelNames: ['pipeline', ...family.labelNames],
      registers: [],
      ...(family.aggregator === undefined ? {} : { aggregator: family.aggregator }),
    }
    const metric =
      family.kind === 'counter'
        ? new Counter({
            ...config,
            collect(this: Counter) {
              this.reset()
              read((labels, value) => {
                this.inc(labels, value)
              })
            },
          })
        : new Gauge({
            ...config,
            collect(this: Gauge) {
              this.reset()
              read((labels, value) => {
                this.set(labels, value)
              })
            },
          })
    this.registry.registerMetric(metric)
    this.#names.push(name)
  }

  #snapshotOf(source: MetricsSource): MetricsSnapshot {
    if (this.#snapshots === undefined) {
      const snapshots = new Map<MetricsSource, MetricsSnapshot>()
      this.#snapshots = snapshots
      // A registry collects all its metrics in one synchronous pass; the next scrape takes new ones.
      queueMicrotask(() => {
        if (this.#snapshots === snapshots) this.#snapshots = undefined
      })
    }
    let snapshot = this.#snapshots.get(source)
    if (snapshot === undefined) {
      snapshot = source.metrics()
      this.#snapshots.set(source, snapshot)
    }
    return snapshot
  }

  /**
   * Exports `pipeline`'s metrics from the next scrape on. Throws `InvalidOptionError` when another
   * pipeline of the same name is exported already: their series could not be told apart.
   */
  add(pipeline: MetricsSource): this {
    const name: unknown = (pipeline as Partial<MetricsSource> | undefined)?.name
    if (typeof name !== 'string' || typeof pipeline.metrics !== 'function')
      throw new InvalidOptionError(
        'pipeline',
        '`pipeline` must be a Pipeline (a name and metrics())',
        pipeline,
      )
    const known = this.#sources.get(name)
    if (known !== undefined && known !== pipeline)
      throw new InvalidOptionError(
        'pipeline.name',
        `a pipeline named "${name}" is exported already; give each pipeline its own name`,
        name,
      )
    this.#sources.set(name, pipeline)
    return this
  }

  /** Stops exporting `pipeline`: its series are gone from the next scrape. True if it was exported. */
  remove(pipeline: MetricsSource): boolean {
    if (this.#sources.get(pipeline.name) !== pipeline) return false
    return this.#sources.delete(pipeline.name)
  }

  /** The registry's exposition text (all its metrics, not only these). */
  metrics(): Promise<string> {
    return this.registry.metrics()
  }

  /** The `Content-Type` of `metrics()`'s text. */
  get contentType(): string {
    return this.registry.contentType
  }

  /** Removes this exporter's metrics from the registry (to build another one with the same names there). */
  unregister(): void {
    for (const name of this.#names.splice(0)) this.registry.removeSingleMetric(name)
  }
}
