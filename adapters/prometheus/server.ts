/**
 * A minimal HTTP endpoint for Prometheus to scrape: `GET <path>` answers with the exporter's
 * exposition text; anything else gets 404 or 405. For a service that has an HTTP server already,
 * serve `exporter.metrics()` on a route of its own instead.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { z } from 'zod'
import { defaultLogger, isLogger, type Logger } from '../../lib/logger.js'
import { integer, parseOptions, type ResolvedOptions } from '../../lib/options.js'
import type { PrometheusExporter } from './exporter.js'

/** Schema of `serveMetrics`' options; the docs table and the type come from it. */
export const serveMetricsOptionsSchema = z.strictObject({
  port: integer(0, { max: 65535 }).meta({
    description: 'TCP port to listen on (required); 0 picks a free one.',
  }),
  host: z
    .string({ error: 'must be a string' })
    .min(1, { error: 'must not be empty' })
    .default('127.0.0.1')
    .meta({ description: 'Address to listen on: `0.0.0.0` (or `::`) for a Prometheus on another machine.' }),
  path: z
    .string({ error: 'must be a string' })
    .startsWith('/', { error: 'must start with /' })
    .default('/metrics')
    .meta({ description: 'The path the metrics are served at.' }),
  logger: z
    .custom<Logger>((v) => isLogger(v), { error: 'must be a pino logger' })
    .optional()
    .meta({
      description:
        "A pino logger for failed scrapes (`scrape_failed`) and server errors (`metrics_server_error`); by default streamway's (`warn`, stderr).",
    }),
})

/** Options of `serveMetrics`. */
export type ServeMetricsOptions = z.input<typeof serveMetricsOptionsSchema>

/** A running metrics endpoint. */
export interface MetricsServer {
  /** Where the metrics are, e.g. `http://127.0.0.1:9464/metrics` (the port picked when 0 was given). */
  readonly url: string
  readonly server: Server
  /**
   * Stops listening; a scrape under way is answered, with `Connection: close`, and idle
   * keep-alive connections are closed. Resolves once every connection is.
   */
  close(): Promise<void>
}

/** Serves `exporter`'s metrics over HTTP; resolves once listening. */
export async function serveMetrics(
  exporter: Pick<PrometheusExporter, 'metrics' | 'contentType'>,
  options: ServeMetricsOptions,
): Promise<MetricsServer> {
  const o: ResolvedOptions<typeof serveMetricsOptionsSchema> = parseOptions(
    serveMetricsOptionsSchema,
    options,
  )
  const log = (o.logger ?? defaultLogger()).child({ component: 'metrics-server' })
  let closing = false
  const server = createServer((req, res) => {
    // Once closing, no connection is kept alive: a scraper's keep-alive would hold close() open.
    const connection = () => (closing ? { connection: 'close' } : {})
    const path = (req.url ?? '/').split('?', 1)[0]
    if (path !== o.path) return void res.writeHead(404, connection()).end()
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return void res.writeHead(405, { allow: 'GET, HEAD', ...connection() }).end()
    exporter.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': exporter.contentType, ...connection() })
        res.end(req.method === 'HEAD' ? undefined : text)
      },
      (error: unknown) => {
        log.error({ event: 'scrape_failed', err: error }, 'Collecting the metrics failed')
        // The reason stays in the log: the endpoint may be reachable from other machines.
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', ...connection() })
        res.end('collecting the metrics failed\n')
      },
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', (error) => {
    log.error({ event: 'metrics_server_error', err: error }, 'The metrics server failed')
  })
  const { address, port, family } = server.address() as AddressInfo
  const host = family === 'IPv6' ? `[${address}]` : address
  return {
    url: `http://${host}:${String(port)}${o.path}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing = true
        server.close((error) => {
          if (error === undefined) resolve()
          else reject(error)
        })
      }),
  }
}
