import t, { type Test } from 'tap'
import type { Kafka } from 'kafkajs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { InvalidOptionError, Message } from '../../../lib/index.js'
import type { KafkaTestBroker } from '../../../lib/testing.js'
import { kafkaSink } from '../../../adapters/kafka/index.js'
import { silentLogger, uniqueName } from '../../pipeline/fixtures.js'
import { kafkaOf, startBroker as startTestBroker } from '../../testing/kafka-broker/fixtures.js'

/** A test broker and a client that gives up after two quick retries (a failed send fails fast). */
async function startBroker(t: Test): Promise<{ broker: KafkaTestBroker; kafka: Kafka }> {
  const { broker, address } = await startTestBroker(t)
  return { broker, kafka: kafkaOf(address, { retry: { initialRetryTime: 20, retries: 2 } }) }
}

t.test('a batch is produced as one send: values, keys, headers, in order per key', async (t) => {
  const { broker, kafka } = await startBroker(t)
  const topic = uniqueName('out')
  broker.createTopic(topic, 3)
  const sink = kafkaSink({
    client: kafka,
    topic,
    toRecord: (m: Message<never>) => {
      const data = m.data as { id: number }
      return { key: `k${String(data.id % 5)}`, value: JSON.stringify(data), headers: { source: 'test' } }
    },
    logger: silentLogger(),
  })
  t.teardown(() => sink.close())
  const messages = Array.from({ length: 100 }, (_, id) => new Message({ id }))
  const produces: number[] = []
  broker.on('request', (e) => {
    if (e.api === 'Produce') produces.push(e.request.topics.length)
  })
  t.equal(await sink.handleBatch('default', messages), messages)
  t.equal(messages.filter((m) => m.isFailed).length, 0)
  t.equal(produces.length, 1, 'one Produce request for the batch')
  const records = broker.records(topic)
  t.equal(records.length, 100)
  t.ok(records.every((r) => r.headers.some((h) => h.key === 'source' && String(h.value) === 'test')))
  // Same key, same partition, produced order kept.
  const byKey = new Map<string, number[]>()
  for (const r of records) {
    const id = (JSON.parse(String(r.value)) as { id: number }).id
    byKey.set(`${String(r.key)}@${String(r.partition)}`, [
      ...(byKey.get(`${String(r.key)}@${String(r.partition)}`) ?? []),
      id,
    ])
  }
  t.equal(byKey.size, 5, 'each key on one partition')
  for (const ids of byKey.values())
    t.same(
      ids,
      [...ids].sort((a, b) => a - b),
    )
  t.equal(sink.stats.sent, 100)
})

t.test('data without a record form fails alone; bytes and strings go as they are', async (t) => {
  const { broker, kafka } = await startBroker(t)
  const topic = uniqueName('raw')
  broker.createTopic(topic, 1)
  const sink = kafkaSink({ client: kafka, topic, logger: silentLogger() })
  t.teardown(() => sink.close())
  const messages = [
    new Message<unknown>(Buffer.from('bytes')),
    new Message<unknown>('text'),
    new Message<unknown>(10n),
    new Message<unknown>({ a: 1 }),
  ]
  await sink.handleBatch(messages)
  t.same(
    messages.map((m) => m.isFailed),
    [false, false, true, false],
  )
  t.same(
    broker.records(topic).map((r) => String(r.value)),
    ['bytes', 'text', '{"a":1}'],
  )
})

t.test('a send that keeps failing fails the batch for handleFailed', async (t) => {
  const { broker, kafka } = await startBroker(t)
  const topic = uniqueName('down')
  broker.createTopic(topic, 1)
  // NOT_LEADER_FOR_PARTITION is retriable: more of them than the client's retries.
  broker.injectError('Produce', 6, 20)
  const sink = kafkaSink({ client: kafka, topic, logger: silentLogger() })
  t.teardown(() => sink.close())
  const messages = [new Message<unknown>('a'), new Message<unknown>('b')]
  await sink.handleBatch(messages)
  t.ok(messages.every((m) => m.isFailed))
  t.equal(sink.stats.failed, 2)
  t.equal(broker.records(topic).length, 0)
})

t.test('as a Writable in stream.pipeline', async (t) => {
  const { broker, kafka } = await startBroker(t)
  const topic = uniqueName('w')
  broker.createTopic(topic, 2)
  const sink = kafkaSink({ client: kafka, topic, logger: silentLogger(), writableHighWaterMark: 50 })
  await pipeline(Readable.from(Array.from({ length: 500 }, (_, i) => `r${String(i)}`)), sink.writable())
  t.equal(broker.records(topic).length, 500)
})

t.test('options are validated, naming the option', (t) => {
  t.throws(() => kafkaSink({ topic: 'x' }), { name: 'InvalidOptionError', message: /options\.kafka.*client/ })
  t.throws(() => kafkaSink({ kafka: { brokers: ['h:1'] }, topic: '' }), InvalidOptionError)
  const sasl = { mechanism: 'plain', username: 'svc', password: 'pa55word' } as const
  const refused = t.throws(() => kafkaSink({ kafka: { sasl } as never, topic: 't' }), {
    path: 'options.kafka',
    message: '`options.kafka` must be a kafkajs client config with `brokers`',
  }) as InvalidOptionError
  t.equal(refused.value, undefined, 'the config, SASL password and all, is not kept on the error')
  t.throws(() => kafkaSink({ kafka: { brokers: ['h:1'] }, topic: 't', acks: 2 as never }), {
    message: /options\.acks/,
  })
  t.end()
})
