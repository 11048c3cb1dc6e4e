/** kafkajs' admin client against the broker, end to end over TCP. */
import t from 'tap'
import { kafkaErrorCodes } from '../../../lib/testing.js'
import { deferred } from '../../pipeline/fixtures.js'
import { fastConsumer, kafkaOf, startBroker, handler } from './fixtures.js'

t.test('admin creates topics (false when they exist), lists and deletes them', async (t) => {
  const { broker, address } = await startBroker(t)
  const admin = kafkaOf(address).admin()
  await admin.connect()
  t.equal(
    await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }, { topic: 'audit' }] }),
    true,
  )
  t.equal(
    await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }] }),
    false,
    'TOPIC_ALREADY_EXISTS',
  )
  t.same(broker.highWatermarks('orders'), [0n, 0n, 0n])
  t.same((await admin.listTopics()).sort(), ['audit', 'orders'])
  const metadata = await admin.fetchTopicMetadata({ topics: ['orders'] })
  t.same(
    metadata.topics[0]?.partitions.map((p) => [p.partitionId, p.leader]),
    [
      [0, 0],
      [1, 0],
      [2, 0],
    ],
  )
  const refused: unknown = await admin
    .createTopics({ topics: [{ topic: 'bad', numPartitions: 0 }] })
    .catch((error: unknown) => error)
  t.match(refused, { errors: [{ type: 'INVALID_PARTITIONS' }] })
  await admin.deleteTopics({ topics: ['audit'] })
  t.same(broker.topicNames(), ['orders'])
  await admin.disconnect()
})

t.test('admin reads topic offsets: earliest, latest, by timestamp', async (t) => {
  const { address } = await startBroker(t, { topics: { t: 2 } })
  const kafka = kafkaOf(address)
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({
    topic: 't',
    messages: [
      { value: 'a', partition: 0, timestamp: '1000' },
      { value: 'b', partition: 0, timestamp: '2000' },
    ],
  })
  await producer.send({ topic: 't', messages: [{ value: 'c', partition: 0, timestamp: '3000' }] })
  await producer.disconnect()
  const admin = kafka.admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets('t')
  t.same(
    offsets.map((o) => ({ partition: o.partition, low: o.low, high: o.high })),
    [
      { partition: 0, low: '0', high: '3' },
      { partition: 1, low: '0', high: '0' },
    ],
  )
  const byTime = await admin.fetchTopicOffsetsByTimestamp('t', 1500)
  t.same(byTime.find((o) => o.partition === 0)?.offset, '1')
  await admin.disconnect()
})

t.test('admin lists and describes the groups of running consumers', async (t) => {
  const { address } = await startBroker(t, { topics: { t: 1 } })
  const kafka = kafkaOf(address)
  const consumer = kafka.consumer(fastConsumer('described'))
  const joined = deferred()
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined.resolve()
  })
  await consumer.connect()
  await consumer.subscribe({ topic: 't' })
  await consumer.run({ eachMessage: handler(() => undefined) })
  await joined.promise
  const admin = kafka.admin()
  await admin.connect()
  t.same((await admin.listGroups()).groups, [{ groupId: 'described', protocolType: 'consumer' }])
  const { groups } = await admin.describeGroups(['described'])
  t.match(groups[0], {
    groupId: 'described',
    state: 'Stable',
    protocolType: 'consumer',
    protocol: 'RoundRobinAssigner',
  })
  t.equal(groups[0]?.members.length, 1)
  t.equal(groups[0]?.members[0]?.clientId, 'test')
  t.match((await consumer.describeGroup()).state, 'Stable')
  await consumer.disconnect()
  t.match((await admin.describeGroups(['described'])).groups[0], { state: 'Empty', members: [] })
  await admin.disconnect()
})

t.test('with auto-creation off, producing to an unknown topic fails once kafkajs gives up', async (t) => {
  const { broker, address } = await startBroker(t, { autoCreateTopics: false })
  const producer = kafkaOf(address, { retry: { initialRetryTime: 20, retries: 1 } }).producer()
  await producer.connect()
  await t.rejects(producer.send({ topic: 'nowhere', messages: [{ value: 'x' }] }))
  await producer.disconnect()
  t.same(broker.topicNames(), [])
  t.equal(kafkaErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, 3)
})
