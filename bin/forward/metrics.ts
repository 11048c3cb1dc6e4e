/**
 * The forwarder's Prometheus endpoint (`--metrics`): the pipeline's metrics and, per partition, the
 * consumer lag (records between the acked offset and the partition's end), the figure a Kafka
 * consumer is watched by. It listens before anything else opens, so a port in use fails the run
 * at once.
 */
import { Gauge } from 'prom-client'
import type { KafkaSource } from '../../adapters/kafka/index.js'
import { PrometheusExporter, serveMetrics, type MetricsSource } from '../../adapters/prometheus/index.js'
import type { Logger } from '../../lib/logger.js'
import type { ListenAddress } from '../cli/args.js'

/** A listening metrics endpoint, watching nothing until `watch`. */
export interface ForwardMetrics {
  readonly url: string
  /** Exports `pipeline`'s metrics and `source`'s lag from the next scrape on. */
  watch(pipeline: MetricsSource, source: Pick<KafkaSource, 'partitions'>): void
  close(): Promise<void>
}

/** Starts the endpoint at `address`, logging through `logger`; rejects when it cannot listen there. */
export async function serveForwardMetrics(address: ListenAddress, logger: Logger): Promise<ForwardMetrics> {
  const exporter = new PrometheusExporter()
  const served = await serveMetrics(exporter, { ...address, logger })
  return {
    url: served.url,
    watch(pipeline, source) {
      exporter.add(pipeline)
      exporter.registry.registerMetric(
        new Gauge({
          name: 'streamway_kafka_lag',
          help: "Records between a partition's acked offset and its end, as of the last fetch.",
          labelNames: ['pipeline', 'topic', 'partition'],
          registers: [],
          collect(this: Gauge) {
            this.reset()
            for (const p of source.partitions())
              if (p.lag >= 0)
                this.set({ pipeline: pipeline.name, topic: p.topic, partition: String(p.partition) }, p.lag)
          },
        }),
      )
    },
    close: () => served.close(),
  }
}
