import t from 'tap'
import { Agent, request } from 'undici'
import { PrometheusExporter, serveMetrics } from '../../../adapters/prometheus/index.js'
import { deferred, loggerInto, startTestPipeline } from '../../pipeline/fixtures.js'

t.test('serveMetrics answers GET <path> with the exposition and its content type', async (t) => {
  const pipeline = await startTestPipeline<number>(t, { handleMessage: (_, m) => m })
  const exporter = new PrometheusExporter().add(pipeline)
  await pipeline.testBatch([1, 2, 3])
  const served = await serveMetrics(exporter, { port: 0 })
  t.teardown(() => served.close())
  t.match(served.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
  const response = await request(served.url)
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const text = await response.body.text()
  t.match(text, `\nstreamway_messages_received_total{pipeline="${pipeline.name}"} 3\n`)
  const withQuery = await request(`${served.url}?x=1`)
  t.equal(withQuery.statusCode, 200, 'a query string is ignored')
  await withQuery.body.dump()
  const head = await request(served.url, { method: 'HEAD' })
  t.equal(head.statusCode, 200)
  t.equal(await head.body.text(), '')
})

t.test('serveMetrics: other paths are 404, other methods 405', async (t) => {
  const served = await serveMetrics(new PrometheusExporter(), { port: 0, path: '/stats' })
  t.teardown(() => served.close())
  t.match(served.url, /\/stats$/)
  const notFound = await request(served.url.replace(/\/stats$/, '/metrics'))
  t.equal(notFound.statusCode, 404)
  await notFound.body.dump()
  const post = await request(served.url, { method: 'POST', body: 'x' })
  t.equal(post.statusCode, 405)
  t.equal(post.headers.allow, 'GET, HEAD')
  await post.body.dump()
})

t.test(
  'serveMetrics: a failing scrape is a 500, its reason logged, not sent; the server goes on',
  async (t) => {
    let fail = true
    const exporter = {
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      metrics: () => (fail ? Promise.reject(new Error('collector broke')) : Promise.resolve('up 1\n')),
    }
    const lines: Record<string, unknown>[] = []
    const served = await serveMetrics(exporter, { port: 0, logger: loggerInto(lines) })
    t.teardown(() => served.close())
    const failed = await request(served.url)
    t.equal(failed.statusCode, 500)
    t.equal(await failed.body.text(), 'collecting the metrics failed\n')
    t.match(lines, [{ event: 'scrape_failed', level: 50, err: { message: 'collector broke' } }])
    fail = false
    const next = await request(served.url)
    t.equal(next.statusCode, 200)
    t.equal(await next.body.text(), 'up 1\n')
    served.server.emit('error', new Error('accept failed'))
    t.match(
      lines[1],
      { event: 'metrics_server_error', err: { message: 'accept failed' } },
      'logged, not thrown',
    )
  },
)

t.test(
  'serveMetrics: close() answers a scrape under way, closes its keep-alive connection, and resolves',
  async (t) => {
    const entered = deferred()
    const gate = deferred()
    const exporter = {
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      async metrics() {
        entered.resolve()
        await gate.promise
        return 'up 1\n'
      },
    }
    const served = await serveMetrics(exporter, { port: 0 })
    const agent = new Agent({ keepAliveTimeout: 60_000 })
    t.teardown(() => agent.close())
    const scrape = request(served.url, { dispatcher: agent })
    await entered.promise
    const closed = served.close()
    gate.resolve()
    const response = await scrape
    t.equal(response.statusCode, 200)
    t.equal(await response.body.text(), 'up 1\n')
    t.equal(response.headers.connection, 'close', 'the scraper is told not to keep the connection')
    await closed
    await t.rejects(request(served.url, { dispatcher: agent }), { code: 'ECONNREFUSED' })
  },
)

t.test('serveMetrics: a port in use rejects; close() frees the port', async (t) => {
  const first = await serveMetrics(new PrometheusExporter(), { port: 0 })
  const port = Number(new URL(first.url).port)
  await t.rejects(serveMetrics(new PrometheusExporter(), { port }), { code: 'EADDRINUSE' })
  await first.close()
  const again = await serveMetrics(new PrometheusExporter(), { port })
  await again.close()
  t.pass(`port ${String(port)} served again after close()`)
})

t.test('serveMetrics: invalid options fail, naming the option', async (t) => {
  const exporter = new PrometheusExporter()
  const cases: [unknown, string][] = [
    [{}, 'options.port'],
    [{ port: 70000 }, 'options.port'],
    [{ port: 1.5 }, 'options.port'],
    [{ port: 0, host: '' }, 'options.host'],
    [{ port: 0, path: 'metrics' }, 'options.path'],
    [{ port: 0, tls: true }, 'options.tls'],
    [{ port: 0, logger: console }, 'options.logger'],
  ]
  for (const [options, path] of cases)
    await t.rejects(serveMetrics(exporter, options as never), { name: 'InvalidOptionError', path }, path)
})
