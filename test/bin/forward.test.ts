import t from 'tap'
import { Kafka, logLevel } from 'kafkajs'
import { mkdtempSync, readFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { runCli } from '../../bin/import/program.js'
import type { CliIo } from '../../bin/cli/io.js'
import { parseKafkaUrl, resolveForwardConfig, type RawForwardOptions } from '../../bin/forward/options.js'
import { runForwardConfig } from '../../bin/forward/run.js'
import { KafkaTestBroker } from '../../lib/testing.js'
import { silentLogger, uniqueName } from '../pipeline/fixtures.js'
import { ok, startServer } from '../adapters/http/server.js'
import { request } from 'undici'
import { listenAddress } from '../../bin/cli/args.js'

const dir = mkdtempSync(join(tmpdir(), 'streamway-forward-'))

function capture(signal: AbortSignal): { io: CliIo; stderr: () => string } {
  let err = ''
  const sink = (onText: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _e, cb) {
        onText(chunk.toString())
        cb()
      },
    })
  return {
    io: { stdout: sink(() => undefined), stderr: sink((s) => (err += s)), env: {}, signals: [], signal },
    stderr: () => err,
  }
}

/** The options commander hands the action with its defaults, `overrides` on top (for `resolveForwardConfig`). */
function rawOptions(
  overrides: Partial<RawForwardOptions> & Pick<RawForwardOptions, 'from' | 'to'>,
): RawForwardOptions {
  return {
    group: 'g',
    fromBeginning: false,
    valueFormat: 'json',
    httpFormat: 'json',
    batchSize: 100,
    batchTimeout: 1000,
    concurrency: 8,
    ordering: 'none',
    commitInterval: 1000,
    sessionTimeout: 30_000,
    heartbeatInterval: 3000,
    progressInterval: 5,
    progress: true,
    logLevel: 'warn',
    shutdownTimeout: 30_000,
    ssl: false,
    ...overrides,
  }
}

async function produce(address: string, topic: string, values: (string | Buffer)[]): Promise<void> {
  const kafka = new Kafka({ brokers: [address], logLevel: logLevel.NOTHING })
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: values.map((value, i) => ({ key: String(i), value })) })
  await producer.disconnect()
}

t.test(
  'forward: every record reaches the HTTP server once, bad values are dead-lettered, offsets committed',
  async (t) => {
    const broker = new KafkaTestBroker({ logger: silentLogger() })
    t.teardown(() => broker.stop())
    const address = await broker.start()
    const topic = uniqueName('orders')
    broker.createTopic(topic, 4)
    const values: (string | Buffer)[] = Array.from({ length: 1000 }, (_, id) =>
      id % 250 === 7 ? `not json ${String(id)}` : JSON.stringify({ id }),
    )
    // JSON.parse of its decoded text would pass ("\ufffd\ufffd"), but the bytes are not UTF-8.
    values[500] = Buffer.from([0x22, 0xc0, 0xaf, 0x22])
    await produce(address, topic, values)
    const server = await startServer(t, (_req, res) => {
      ok(res)
    })
    const abort = new AbortController()
    const deadLetter = join(dir, 'dead.ndjson')
    const c = capture(abort.signal)
    const run = runCli(
      [
        'forward',
        '--from',
        `kafka://${address}/${topic}`,
        '--group',
        'fwd',
        '--to',
        server.url,
        '--from-beginning',
        '--batch-size',
        '50',
        '--batch-timeout',
        '50',
        '--commit-interval',
        '50',
        '--dead-letter',
        deadLetter,
        '--progress-interval',
        '0.05',
        '--log-level',
        'silent',
        '--metrics',
        '127.0.0.1:0',
      ],
      c.io,
    )
    const delivered = () => server.requests.flatMap((r) => JSON.parse(r.body) as { id: number }[])
    const deadline = Date.now() + 30_000
    while (delivered().length < 995 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    const metricsUrl = /Prometheus metrics at (\S+)/.exec(c.stderr())?.[1] ?? ''
    t.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'the endpoint is announced on stderr')
    // The server has every record; their acks (and the lag's fall to 0) follow a moment later.
    let scraped = ''
    const settled = (text: string) =>
      text.includes('streamway_messages_acked_total{pipeline="forward-fwd",status="successful"} 995\n') &&
      [...text.matchAll(/^streamway_kafka_lag\{[^}]*\} (\d+)$/gm)].every((m) => m[1] === '0')
    while (!settled(scraped) && Date.now() < deadline) {
      scraped = await (await request(metricsUrl)).body.text()
      if (!settled(scraped)) await new Promise((r) => setTimeout(r, 20))
    }
    t.match(scraped, 'streamway_messages_acked_total{pipeline="forward-fwd",status="successful"} 995\n')
    t.match(scraped, 'streamway_messages_acked_total{pipeline="forward-fwd",status="failed"} 5\n')
    t.match(
      scraped,
      'streamway_message_failures_total{pipeline="forward-fwd",reason="SW_ERR_MALFORMED_RECORD"} 5\n',
    )
    for (const partition of [0, 1, 2, 3])
      t.match(
        scraped,
        `streamway_kafka_lag{pipeline="forward-fwd",topic="${topic}",partition="${String(partition)}"} 0\n`,
        `lag of partition ${String(partition)}`,
      )
    abort.abort()
    const code = await run
    await t.rejects(request(metricsUrl), { code: 'ECONNREFUSED' }, 'the endpoint is closed at the stop')
    t.equal(code, 1, 'exit 1: some records were dead-lettered')
    const ids = delivered().map((r) => r.id)
    t.equal(new Set(ids).size, 995, 'every good record delivered')
    t.equal(ids.length, 995, 'each once (no rebalance, no crash)')
    t.ok(
      server.requests.every((r) => r.key !== undefined && /^[\w.-]+-\d+-\d+-\d+-\d+$/.test(r.key)),
      'idempotency key from topic-partition-offsets',
    )
    t.ok(existsSync(deadLetter))
    const dead = readFileSync(deadLetter, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: { name: string; message: string } })
    t.equal(dead.length, 5)
    t.ok(dead.every((d) => d.reason.name === 'MalformedRecordError'))
    t.equal(
      dead.filter((d) => d.reason.message.endsWith('is not JSON: byte 1 (0xc0) is not UTF-8')).length,
      1,
      'the value that is not UTF-8, with the byte',
    )
    t.same(
      Object.values(broker.committedOffsets('fwd')[topic] ?? {}),
      broker.highWatermarks(topic),
      'committed to the end',
    )
    t.match(c.stderr(), /streamway forward summary/)
    t.match(
      c.stderr(),
      new RegExp(
        `^forward: [\\d,]+ forwarded \\([\\d,]+/s\\), [\\d,]+ failed, lag ${topic}/\\d [\\d,]+`,
        'm',
      ),
      'progress lines: rate, failures, lag per partition',
    )
    t.match(c.stderr(), /forwarded +995/)
  },
)

t.test('forward: a kafka:// URL is split into brokers and topics; bad ones are refused', (t) => {
  t.same(parseKafkaUrl('kafka://a:9092,b:9093/orders,pay.ments'), {
    brokers: ['a:9092', 'b:9093'],
    topics: ['orders', 'pay.ments'],
  })
  t.throws(() => parseKafkaUrl('http://a:1/t'), /expected kafka:\/\/host:port\/topic/)
  t.throws(() => parseKafkaUrl('kafka://a/t'), /must be host:port/)
  t.throws(() => parseKafkaUrl('kafka://a:1/x/y'), /not a Kafka topic name/)
  t.end()
})

t.test('forward: --sasl takes the credentials from the environment, never the command line', (t) => {
  const raw = rawOptions({
    from: 'kafka://k:9092/orders',
    to: 'https://api.example.com/',
    ssl: true,
    sasl: 'scram-sha-512',
  })
  t.throws(() => resolveForwardConfig(raw, {}), /--sasl needs KAFKA_USERNAME and KAFKA_PASSWORD/)
  const config = resolveForwardConfig(raw, { KAFKA_USERNAME: 'svc', KAFKA_PASSWORD: 's3cret' })
  t.same(config.sasl, { mechanism: 'scram-sha-512', username: 'svc', password: 's3cret' })
  t.equal(config.ssl, true)
  t.equal(resolveForwardConfig({ ...raw, sasl: undefined }, {}).sasl, undefined)
  t.end()
})

t.test(
  'forward: --metrics takes [host:]port; a port in use fails the run at once, naming the option',
  async (t) => {
    t.same(listenAddress('9464'), { host: '127.0.0.1', port: 9464 })
    t.same(listenAddress('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 })
    t.same(listenAddress('[::1]:0'), { host: '::1', port: 0 })
    for (const bad of ['', 'x', '70000', 'host:', ':9464', '::1:80'])
      t.throws(() => listenAddress(bad), { code: 'commander.invalidArgument' }, JSON.stringify(bad))
    const busy = await startServer(t, (_req, res) => {
      ok(res)
    })
    const port = Number(new URL(busy.url).port)
    const c = capture(new AbortController().signal)
    const code = await runCli(
      [
        'forward',
        '--from',
        'kafka://127.0.0.1:1/t',
        '--group',
        'g',
        '--to',
        '-',
        '--metrics',
        `127.0.0.1:${String(port)}`,
      ],
      c.io,
    )
    t.equal(code, 2)
    t.match(c.stderr(), `streamway forward: error: --metrics 127.0.0.1:${String(port)}: listen EADDRINUSE`)
  },
)

t.test('forward: the metrics endpoint is closed when the run fails after it listens', async (t) => {
  const raw = rawOptions({
    from: 'kafka://127.0.0.1:1/orders',
    to: 'http://127.0.0.1:1/',
    progress: false,
    logLevel: 'silent',
    metrics: { host: '127.0.0.1', port: 0 },
  })
  // A header the CLI's parser would refuse: from code, the HTTP sink refuses it once the endpoint listens.
  const config = { ...resolveForwardConfig(raw), headers: { 'bad name': 'x' } }
  const c = capture(new AbortController().signal)
  await t.rejects(runForwardConfig(config, c.io), { code: 'SW_ERR_INVALID_OPTION', path: 'options.headers' })
  const url = /Prometheus metrics at (\S+)/.exec(c.stderr())?.[1] ?? ''
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'it had listened')
  await t.rejects(request(url), { code: 'ECONNREFUSED' }, 'and is closed')
})
