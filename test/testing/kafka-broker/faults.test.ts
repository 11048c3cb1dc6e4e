/** Fault injection and dropped connections, with kafkajs recovering from both. */
import t from 'tap'
import { kafkaErrorCodes as E, type BrokerRequestEvent } from '../../../lib/testing.js'
import { deferred } from '../../pipeline/fixtures.js'
import { eventually, fastConsumer, kafkaOf, rawClient, startBroker, handler } from './fixtures.js'

t.test('a Produce answered with a retriable error is retried by kafkajs and stored once', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { t: 1 } })
  const produces: BrokerRequestEvent[] = []
  broker.on('request', (event) => {
    if (event.api === 'Produce') produces.push(event)
  })
  broker.injectError('Produce', E.LEADER_NOT_AVAILABLE, 2)
  const producer = kafkaOf(address).producer()
  await producer.connect()
  await producer.send({ topic: 't', messages: [{ value: 'once' }] })
  await producer.disconnect()
  t.same(
    produces.map((p) => p.injectedError),
    [E.LEADER_NOT_AVAILABLE, E.LEADER_NOT_AVAILABLE, undefined],
  )
  t.same(
    broker.records('t').map((r) => r.value?.toString()),
    ['once'],
  )
})

t.test('an injected error answers the API’s own error fields, by name or by key', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { t: 1 } })
  const client = await rawClient(t, address)
  broker.injectError(10, E.COORDINATOR_NOT_AVAILABLE)
  broker.injectError('Metadata', E.LEADER_NOT_AVAILABLE)
  broker.injectError('OffsetFetch', E.NOT_COORDINATOR)
  const coordinator = await client.send<{ errorCode: number }>('GroupCoordinator', 2, { groupId: 'g' })
  t.equal(coordinator.errorCode, E.COORDINATOR_NOT_AVAILABLE)
  t.equal(
    (await client.send<{ errorCode: number }>('GroupCoordinator', 2, { groupId: 'g' })).errorCode,
    0,
    'only the next one',
  )
  const metadata = await client.send<{ topicMetadata: { topicErrorCode: number }[] }>('Metadata', 6, {
    topics: ['t'],
    allowAutoTopicCreation: true,
  })
  t.equal(metadata.topicMetadata[0]?.topicErrorCode, E.LEADER_NOT_AVAILABLE)
  const offsets = await client.send<{
    errorCode: number
    responses: { partitions: { errorCode: number }[] }[]
  }>('OffsetFetch', 4, { groupId: 'g', topics: [{ topic: 't', partitions: [{ partition: 0 }] }] })
  t.equal(offsets.errorCode, E.NOT_COORDINATOR)
  t.equal(offsets.responses[0]?.partitions[0]?.errorCode, E.NOT_COORDINATOR)
})

t.test('after dropConnections kafkajs reconnects, and producing and consuming go on', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { t: 2 } })
  const kafka = kafkaOf(address)
  const producer = kafka.producer()
  const consumer = kafka.consumer(fastConsumer('dropped'))
  const values = new Set<string>()
  const first = deferred()
  await consumer.connect()
  await consumer.subscribe({ topic: 't', fromBeginning: true })
  await consumer.run({
    eachMessage: handler(({ message }) => {
      values.add(message.value?.toString() ?? '')
      if (values.has('before')) first.resolve()
    }),
  })
  await producer.connect()
  await producer.send({ topic: 't', messages: [{ value: 'before' }] })
  await first.promise
  t.ok(broker.dropConnections() >= 3, 'the producer’s and the consumer’s connections were closed')
  await producer.send({ topic: 't', messages: [{ value: 'after' }] })
  await eventually(() => values.has('after'), 20_000)
  t.same(
    broker.highWatermarks('t').reduce((a, b) => a + b, 0n),
    2n,
  )
  await producer.disconnect()
  await consumer.disconnect()
})
