export {
  PrometheusExporter,
  prometheusExporterOptionsSchema,
  type MetricsSource,
  type PrometheusExporterOptions,
  type RegistryLike,
} from './exporter.js'
export {
  serveMetrics,
  serveMetricsOptionsSchema,
  type MetricsServer,
  type ServeMetricsOptions,
} from './server.js'
