/** The control surface of `KafkaTestBroker`: options, lifecycle, inspection, injection, events. */
import t from 'tap'
import { InvalidOptionError, KafkaTestBrokerError } from '../../../lib/index.js'
import { KafkaTestBroker, kafkaApiKeys, type BrokerRequestEvent } from '../../../lib/testing.js'
import { silentLogger } from '../../pipeline/fixtures.js'
import { rawClient, startBroker } from './fixtures.js'

t.test('invalid options throw an InvalidOptionError naming the option', (t) => {
  const cases: [unknown, string][] = [
    [{ defaultPartitions: 0 }, 'options.defaultPartitions'],
    [{ port: 70000 }, 'options.port'],
    [{ host: '' }, 'options.host'],
    [{ initialRebalanceDelayMs: -1 }, 'options.initialRebalanceDelayMs'],
    [{ autoCreateTopics: 'yes' }, 'options.autoCreateTopics'],
    [{ topics: { ok: 0 } }, 'options.topics.ok'],
    [{ logger: console }, 'options.logger'],
    [{ partitions: 3 }, 'options.partitions'],
  ]
  for (const [options, path] of cases)
    t.throws(() => new KafkaTestBroker(options as never), { name: 'InvalidOptionError', path }, path)
  t.throws(() => new KafkaTestBroker({ topics: { 'not/legal': 1 } }), InvalidOptionError)
  const broker = new KafkaTestBroker({ logger: silentLogger() })
  t.match(broker.options, {
    host: '127.0.0.1',
    port: 0,
    defaultPartitions: 1,
    autoCreateTopics: true,
    initialRebalanceDelayMs: 0,
  })
  t.ok(Object.isFrozen(broker.options))
  t.end()
})

t.test(
  'start resolves with 127.0.0.1:port, once; stop is idempotent; a stopped broker stays stopped',
  async (t) => {
    const broker = new KafkaTestBroker({ logger: silentLogger() })
    t.equal(broker.address, undefined)
    const address = await broker.start()
    t.match(address, /^127\.0\.0\.1:\d+$/)
    t.not(address, '127.0.0.1:0')
    t.equal(await broker.start(), address)
    t.equal(broker.address, address)
    await Promise.all([broker.stop(), broker.stop()])
    await broker.stop()
    await t.rejects(broker.start(), KafkaTestBrokerError)
    await new KafkaTestBroker({ logger: silentLogger() }).stop() // never started
  },
)

t.test('a port in use fails start with a KafkaTestBrokerError whose cause is the system error', async (t) => {
  const { address } = await startBroker(t)
  const port = Number(address.split(':')[1])
  const second = new KafkaTestBroker({ logger: silentLogger(), port })
  await t.rejects(second.start(), { name: 'KafkaTestBrokerError', cause: { code: 'EADDRINUSE' } })
  await second.stop()
})

t.test('stop closes connections, ends long-polls and parked joins, and leaves no timer behind', async (t) => {
  const broker = new KafkaTestBroker({ logger: silentLogger(), topics: { t: 1 } })
  const address = await broker.start()
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const before = timers()
  const fetching = await rawClient(t, address)
  const joining = await rawClient(t, address)
  void fetching
    .send('Fetch', 11, {
      maxWaitTime: 30_000,
      minBytes: 1,
      maxBytes: 1000,
      topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: '0', maxBytes: 1000 }] }],
    })
    .catch(() => undefined)
  const join = {
    groupId: 'g',
    sessionTimeout: 30_000,
    rebalanceTimeout: 30_000,
    protocolType: 'consumer',
    groupProtocols: [{ name: 'x' }],
  }
  const first = await joining.send<{ memberId: string }>('JoinGroup', 5, { ...join, memberId: '' })
  const other = await rawClient(t, address)
  const second = await other.send<{ memberId: string }>('JoinGroup', 5, { ...join, memberId: '' })
  await other.send('JoinGroup', 5, { ...join, memberId: second.memberId }) // alone: generation 1
  void joining.send('JoinGroup', 5, { ...join, memberId: first.memberId }).catch(() => undefined) // parked: other must rejoin
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(timers() > before, 'the long-poll has a timer')
  const started = Date.now()
  await broker.stop()
  t.ok(Date.now() - started < 1000, 'stop does not wait for the long-polls')
  await Promise.all([fetching.closed, joining.closed, other.closed])
  t.ok(timers() <= before, 'no timer left')
})

t.test('topics are created, listed and inspected; misuse throws a KafkaTestBrokerError', async (t) => {
  const { broker } = await startBroker(t, { defaultPartitions: 2 })
  broker.createTopic('a')
  broker.createTopic('b', 3)
  t.same(broker.topicNames(), ['a', 'b'])
  t.same(broker.highWatermarks('b'), [0n, 0n, 0n])
  t.same(broker.records('a'), [])
  t.throws(
    () => {
      broker.createTopic('a')
    },
    { name: 'KafkaTestBrokerError', message: /already exists/ },
  )
  t.throws(() => {
    broker.createTopic('..')
  }, KafkaTestBrokerError)
  t.throws(() => {
    broker.createTopic('c', 0)
  }, KafkaTestBrokerError)
  t.throws(
    () => {
      broker.records('nope')
    },
    { name: 'KafkaTestBrokerError', message: /No topic "nope"/ },
  )
  t.throws(() => {
    broker.records('a', 2)
  }, KafkaTestBrokerError)
  t.throws(() => {
    broker.highWatermarks('nope')
  }, KafkaTestBrokerError)
  t.same(broker.committedOffsets('nobody'), {})
  t.equal(broker.groupState('nobody'), undefined)
  t.throws(() => {
    broker.injectError('Nope' as never, 3)
  }, KafkaTestBrokerError)
  t.throws(() => {
    broker.injectError(99, 3)
  }, KafkaTestBrokerError)
  t.throws(() => {
    broker.injectError('Produce', 1.5)
  }, KafkaTestBrokerError)
  t.throws(() => {
    broker.injectError('Produce', 3, 0)
  }, KafkaTestBrokerError)
})

t.test('every request is reported with its API, version, client and decoded body', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { t: 1 } })
  const events: BrokerRequestEvent[] = []
  broker.on('request', (event) => events.push(event))
  const client = await rawClient(t, address, 'tracer')
  await client.send('Metadata', 6, { topics: ['t'], allowAutoTopicCreation: false })
  await client.send('OffsetCommit', 5, {
    groupId: 'g',
    groupGenerationId: -1,
    memberId: '',
    topics: [{ topic: 't', partitions: [{ partition: 0, offset: '4' }] }],
  })
  t.match(events[0], {
    api: 'Metadata',
    apiKey: kafkaApiKeys.Metadata,
    version: 6,
    clientId: 'tracer',
    injectedError: undefined,
    request: { topics: ['t'], allowAutoTopicCreation: false },
  })
  const commit = events[1]
  if (commit?.api !== 'OffsetCommit') throw new Error('expected an OffsetCommit')
  t.same(commit.request.topics[0]?.partitions[0], { partition: 0, offset: 4n, metadata: null })
  t.equal(commit.connectionId, events[0]?.connectionId)
})

t.test('a request listener that throws is logged, and the request is still answered', async (t) => {
  const { broker, address } = await startBroker(t)
  broker.on('request', () => {
    throw new Error('listener bug')
  })
  const client = await rawClient(t, address)
  const answer = await client.send<{ errorCode: number }>('ApiVersions', 2, {})
  t.equal(answer.errorCode, 0)
})
