import t from 'tap'
import { CompressionTypes, type EachMessagePayload } from 'kafkajs'
import type { BrokerRequestEvent } from '../../../lib/testing.js'
import { deferred } from '../../pipeline/fixtures.js'
import { fastConsumer, kafkaOf, startBroker, handler } from './fixtures.js'

t.test(
  'kafkajs produces to several partitions and a consumer reads everything from the beginning',
  async (t) => {
    const { broker, address } = await startBroker(t, { topics: { orders: 3 } })
    const kafka = kafkaOf(address)
    const producer = kafka.producer()
    await producer.connect()
    const messages = Array.from({ length: 30 }, (_, i) => ({
      key: `k${String(i % 7)}`,
      value: `v${String(i)}`,
      partition: i % 3,
      headers: { trace: `t${String(i)}`, multi: ['a', 'b'] },
    }))
    await producer.send({ topic: 'orders', messages: messages.slice(0, 15) })
    await producer.send({ topic: 'orders', messages: messages.slice(15) })
    await producer.disconnect()
    t.same(broker.highWatermarks('orders'), [10n, 10n, 10n])

    const stored = broker.records('orders', 1)
    t.equal(stored.length, 10)
    t.same(
      stored.map((r) => r.offset),
      Array.from({ length: 10 }, (_, i) => BigInt(i)),
    )
    t.equal(stored[0]?.key?.toString(), 'k1')
    t.equal(stored[0]?.value?.toString(), 'v1')
    t.same(
      stored[0]?.headers.map((h) => [h.key, h.value?.toString()]),
      [
        ['trace', 't1'],
        ['multi', 'a'],
        ['multi', 'b'],
      ],
    )
    t.ok(Math.abs((stored[0]?.timestamp ?? 0) - Date.now()) < 60_000, 'the producer’s timestamp')

    const consumer = kafka.consumer(fastConsumer('readers'))
    const seen: EachMessagePayload[] = []
    const all = deferred()
    await consumer.connect()
    await consumer.subscribe({ topic: 'orders', fromBeginning: true })
    await consumer.run({
      eachMessage: handler((payload) => {
        seen.push(payload)
        if (seen.length === messages.length) all.resolve()
      }),
    })
    await all.promise
    await consumer.disconnect()
    const values = seen
      .map((p) => p.message.value?.toString())
      .sort((a, b) => Number(a?.slice(1)) - Number(b?.slice(1)))
    t.same(
      values,
      messages.map((m) => m.value),
    )
    const one = seen.find((p) => p.message.value?.toString() === 'v4')
    t.equal(one?.partition, 1)
    t.equal(one?.message.key?.toString(), 'k4')
    t.equal(one?.message.headers?.trace?.toString(), 't4')
    t.same(
      (one?.message.headers?.multi as Buffer[] | undefined)?.map((b) => b.toString()),
      ['a', 'b'],
    )
  },
)

t.test('a waiting fetch is woken by a later produce, long before maxWaitTimeInMs', async (t) => {
  const { address } = await startBroker(t, { topics: { t: 1 } })
  const kafka = kafkaOf(address)
  const consumer = kafka.consumer(fastConsumer('woken', { maxWaitTimeInMs: 5000 }))
  const arrived = deferred<number>()
  await consumer.connect()
  await consumer.subscribe({ topic: 't' })
  const joined = deferred()
  consumer.on(consumer.events.FETCH_START, () => {
    joined.resolve()
  })
  await consumer.run({
    eachMessage: handler(() => {
      arrived.resolve(Date.now())
    }),
  })
  await joined.promise
  await new Promise((resolve) => setTimeout(resolve, 200)) // the fetch is parked by now
  const producer = kafka.producer()
  await producer.connect()
  const sent = Date.now()
  await producer.send({ topic: 't', messages: [{ value: 'x' }] })
  const latency = (await arrived.promise) - sent
  t.ok(latency < 2000, `delivered in ${String(latency)} ms, not after the 5 s wait`)
  await producer.disconnect()
  await consumer.disconnect()
})

t.test(
  'a consumer without a committed offset starts at the end unless fromBeginning (ListOffsets)',
  async (t) => {
    const { broker, address } = await startBroker(t, { topics: { t: 1 } })
    const kafka = kafkaOf(address)
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: 't', messages: [{ value: 'old' }] })
    for (const [group, fromBeginning, expected] of [
      ['latest', false, ['new']],
      ['earliest', true, ['old', 'new']],
    ] as const) {
      const consumer = kafka.consumer(fastConsumer(group))
      const values: string[] = []
      const done = deferred()
      // The first Fetch follows the ListOffsets that placed the consumer (FETCH_START precedes it).
      const fetching = deferred()
      const onRequest = (event: BrokerRequestEvent): void => {
        if (event.api === 'Fetch') fetching.resolve()
      }
      broker.on('request', onRequest)
      await consumer.connect()
      await consumer.subscribe({ topic: 't', fromBeginning })
      await consumer.run({
        eachMessage: handler(({ message }) => {
          values.push(message.value?.toString() ?? '')
          if (message.value?.toString() === 'new') done.resolve()
        }),
      })
      await fetching.promise
      broker.off('request', onRequest)
      if (!fromBeginning) await producer.send({ topic: 't', messages: [{ value: 'new' }] })
      await done.promise
      t.same(values, expected, group)
      await consumer.disconnect()
    }
    await producer.disconnect()
  },
)

t.test('gzip batches are stored as sent, decoded by records(), and consumed', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { t: 1 } })
  const kafka = kafkaOf(address)
  const producer = kafka.producer()
  await producer.connect()
  const messages = Array.from({ length: 50 }, (_, i) => ({
    key: `k${String(i)}`,
    value: 'x'.repeat(100) + String(i),
    headers: { n: String(i) },
  }))
  await producer.send({ topic: 't', compression: CompressionTypes.GZIP, messages })
  await producer.disconnect()
  const records = broker.records('t')
  t.equal(records.length, 50)
  t.equal(records[49]?.offset, 49n)
  t.equal(records[49]?.value?.toString(), messages[49]?.value)
  t.same(
    records[7]?.headers.map((h) => [h.key, h.value?.toString()]),
    [['n', '7']],
  )

  const consumer = kafka.consumer(fastConsumer('gzip'))
  const done = deferred()
  let n = 0
  await consumer.connect()
  await consumer.subscribe({ topic: 't', fromBeginning: true })
  await consumer.run({
    eachMessage: handler(() => {
      if (++n === 50) done.resolve()
    }),
  })
  await done.promise
  await consumer.disconnect()
  t.equal(n, 50)
})

t.test('an idempotent producer gets a producer id and its records are stored', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { t: 2 } })
  const apis: string[] = []
  broker.on('request', (event) => apis.push(event.api))
  const producer = kafkaOf(address).producer({ idempotent: true })
  await producer.connect()
  await producer.send({
    topic: 't',
    messages: [
      { value: 'a', partition: 0 },
      { value: 'b', partition: 1 },
    ],
  })
  await producer.send({ topic: 't', messages: [{ value: 'c', partition: 0 }] })
  await producer.disconnect()
  t.ok(apis.includes('InitProducerId'))
  t.same(
    broker.records('t').map((r) => [r.partition, r.value?.toString()]),
    [
      [0, 'a'],
      [0, 'c'],
      [1, 'b'],
    ],
  )
})
