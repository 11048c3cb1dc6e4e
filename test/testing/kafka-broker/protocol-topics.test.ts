/**
 * Round trips of real kafkajs-encoded requests through the broker, over TCP, each answer decoded
 * with kafkajs' own response decoder: the APIs of topics and records, and the connection rules.
 */
import t from 'tap'
import { apiVersions, type ApiName } from '../../../lib/testing/kafka-broker/protocol.js'
import { kafkaErrorCodes as E } from '../../../lib/testing.js'
import { customRequest, kafkajsRequests, rawClient, startBroker } from './fixtures.js'

/** kafkajs' name for each API, where it differs from Kafka's. */
const kafkajsName = (api: ApiName): string => (api === 'FindCoordinator' ? 'GroupCoordinator' : api)

function produceArgs(topic: string, partition: number, values: string[], acks = -1): object {
  return {
    acks,
    timeout: 1000,
    topicData: [{ topic, partitions: [{ partition, messages: values.map((value) => ({ value })) }] }],
  }
}

interface ProduceAnswer {
  topics: { topicName: string; partitions: { partition: number; errorCode: number; baseOffset: string }[] }[]
}
interface FetchAnswer {
  responses: {
    topicName: string
    partitions: {
      partition: number
      errorCode: number
      highWatermark: string
      preferredReadReplica: number
      messages: { offset: string; value: Buffer | null }[]
    }[]
  }[]
}

function fetchArgs(
  topic: string,
  partitions: { partition: number; fetchOffset: string; maxBytes?: number }[],
  maxWaitTime = 0,
  maxBytes = 1 << 20,
): object {
  return {
    maxWaitTime,
    minBytes: 1,
    maxBytes,
    topics: [{ topic, partitions: partitions.map((p) => ({ maxBytes: 1 << 20, ...p })) }],
  }
}

t.test(
  'every API is advertised at a version kafkajs implements, and ApiVersions v0–v2 list them',
  async (t) => {
    const { address } = await startBroker(t)
    const client = await rawClient(t, address)
    for (const [api, version] of Object.entries(apiVersions) as [ApiName, number][])
      t.ok(
        kafkajsRequests[kafkajsName(api)]?.versions.includes(String(version)),
        `kafkajs implements ${api} v${String(version)}`,
      )
    for (const version of [2, 1, 0]) {
      const answer = await client.send<{
        errorCode: number
        apiVersions: { apiKey: number; minVersion: number; maxVersion: number }[]
      }>('ApiVersions', version, {})
      t.equal(answer.errorCode, 0)
      t.equal(
        answer.apiVersions.length,
        Object.keys(apiVersions).length,
        `v${String(version)} lists every API`,
      )
      const metadata = answer.apiVersions.find((v) => v.apiKey === 3)
      t.same(metadata, { apiKey: 3, minVersion: 6, maxVersion: 6 })
      t.same(
        answer.apiVersions.find((v) => v.apiKey === 18),
        { apiKey: 18, minVersion: 0, maxVersion: 2 },
      )
    }
  },
)

t.test('ApiVersions newer than v2 is answered v0-shaped with UNSUPPORTED_VERSION and the list', async (t) => {
  const { address } = await startBroker(t)
  const client = await rawClient(t, address)
  const { request } = kafkajsRequests.ApiVersions!.protocol({ version: 2 })({})
  await client.write({ ...request, apiVersion: 3 })
  const frame = await client.nextFrame()
  const body = frame!.subarray(4)
  t.equal(body.readInt16BE(0), E.UNSUPPORTED_VERSION)
  t.equal(body.readInt32BE(2), Object.keys(apiVersions).length)
  t.equal(body.length, 2 + 4 + 6 * Object.keys(apiVersions).length, 'no throttle time: the v0 shape')
})

t.test('Metadata v6 names this node as broker and controller and auto-creates topics', async (t) => {
  const { broker, address } = await startBroker(t, { defaultPartitions: 2, topics: { known: 3 } })
  const client = await rawClient(t, address)
  const [host, port] = address.split(':')
  const answer = await client.send<{
    brokers: { nodeId: number; host: string; port: number }[]
    controllerId: number
    clusterId: string
    topicMetadata: {
      topicErrorCode: number
      topic: string
      partitionMetadata: { partitionId: number; leader: number; replicas: number[]; isr: number[] }[]
    }[]
  }>('Metadata', 6, { topics: ['known', 'fresh', 'bad/name'], allowAutoTopicCreation: true })
  t.same(
    answer.brokers.map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port })),
    [{ nodeId: 0, host, port: Number(port) }],
  )
  t.equal(answer.controllerId, 0)
  t.equal(typeof answer.clusterId, 'string')
  const byName = new Map(answer.topicMetadata.map((m) => [m.topic, m]))
  t.equal(byName.get('known')?.partitionMetadata.length, 3)
  t.same(byName.get('known')?.partitionMetadata[2], {
    partitionErrorCode: 0,
    partitionId: 2,
    leader: 0,
    replicas: [0],
    isr: [0],
    offlineReplicas: [],
  })
  t.equal(byName.get('fresh')?.topicErrorCode, 0)
  t.equal(byName.get('fresh')?.partitionMetadata.length, 2, 'auto-created with defaultPartitions')
  t.equal(byName.get('bad/name')?.topicErrorCode, E.INVALID_TOPIC_EXCEPTION)
  t.same(broker.topicNames(), ['fresh', 'known'])

  broker.setAutoCreateTopics(false)
  const refused = await client.send<{ topicMetadata: { topicErrorCode: number }[] }>('Metadata', 6, {
    topics: ['other'],
    allowAutoTopicCreation: true,
  })
  t.equal(refused.topicMetadata[0]?.topicErrorCode, E.UNKNOWN_TOPIC_OR_PARTITION)
  const notAllowed = await client.send<{ topicMetadata: { topicErrorCode: number }[] }>('Metadata', 6, {
    topics: ['other'],
    allowAutoTopicCreation: false,
  })
  t.equal(notAllowed.topicMetadata[0]?.topicErrorCode, E.UNKNOWN_TOPIC_OR_PARTITION)

  const all = await client.send<{ topicMetadata: { topic: string }[] }>('Metadata', 6, {
    topics: [],
    allowAutoTopicCreation: true,
  })
  t.same(
    all.topicMetadata.map((m) => m.topic),
    ['fresh', 'known'],
    'an empty list (sent as null) means every topic',
  )
})

t.test('CreateTopics v3 creates, validates, and refuses what Kafka refuses', async (t) => {
  const { broker, address } = await startBroker(t, { defaultPartitions: 4, topics: { exists: 1 } })
  const client = await rawClient(t, address)
  const answer = await client.send<{
    topicErrors: { topic: string; errorCode: number; errorMessage: string | null }[]
  }>('CreateTopics', 3, {
    topics: [
      { topic: 'a', numPartitions: 3 },
      { topic: 'b' },
      { topic: 'exists' },
      { topic: 'zero', numPartitions: 0 },
      { topic: 'three', replicationFactor: 3 },
      {
        topic: 'assigned',
        replicaAssignment: [
          { partition: 0, replicas: [0] },
          { partition: 1, replicas: [0] },
        ],
      },
      { topic: 'twice' },
      { topic: 'twice' },
    ],
    timeout: 1000,
    validateOnly: false,
  })
  // kafkajs sorts the answer by topic name.
  t.same(
    answer.topicErrors.map((e) => [e.topic, e.errorCode]),
    [
      ['a', 0],
      ['assigned', 0],
      ['b', 0],
      ['exists', E.TOPIC_ALREADY_EXISTS],
      ['three', E.INVALID_REPLICATION_FACTOR],
      ['twice', E.INVALID_REQUEST],
      ['twice', E.INVALID_REQUEST],
      ['zero', E.INVALID_PARTITIONS],
    ],
  )
  t.match(answer.topicErrors.find((e) => e.topic === 'exists')?.errorMessage, /already exists/)
  t.same(broker.highWatermarks('a'), [0n, 0n, 0n])
  t.equal(broker.highWatermarks('b').length, 4, '−1 partitions: the default')
  t.equal(broker.highWatermarks('assigned').length, 2)
  const dry = await client.send<{ topicErrors: { errorCode: number }[] }>('CreateTopics', 3, {
    topics: [{ topic: 'dry' }],
    timeout: 1000,
    validateOnly: true,
  })
  t.equal(dry.topicErrors[0]?.errorCode, 0)
  t.notOk(broker.topicNames().includes('dry'), 'validate_only creates nothing')
})

t.test('DeleteTopics v1 deletes a topic with its records and committed offsets', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { gone: 1, kept: 1 } })
  const client = await rawClient(t, address)
  await client.send('OffsetCommit', 5, {
    groupId: 'g',
    groupGenerationId: -1,
    memberId: '',
    topics: [
      { topic: 'gone', partitions: [{ partition: 0, offset: '0' }] },
      { topic: 'kept', partitions: [{ partition: 0, offset: '0' }] },
    ],
  })
  const answer = await client.send<{ topicErrors: { topic: string; errorCode: number }[] }>(
    'DeleteTopics',
    1,
    { topics: ['gone', 'never'], timeout: 1000 },
  )
  t.same(answer.topicErrors, [
    { topic: 'gone', errorCode: 0 },
    { topic: 'never', errorCode: E.UNKNOWN_TOPIC_OR_PARTITION },
  ])
  t.same(broker.topicNames(), ['kept'])
  t.same(broker.committedOffsets('g'), { kept: { 0: 0n } })
})

t.test('Produce v7 appends batches, assigns offsets, and answers acks 0 with nothing', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { t: 2 } })
  const client = await rawClient(t, address)
  const first = await client.send<ProduceAnswer>('Produce', 7, produceArgs('t', 1, ['a', 'b', 'c']))
  t.same(first.topics[0]?.partitions[0], {
    partition: 1,
    errorCode: 0,
    baseOffset: '0',
    logAppendTime: '-1',
    logStartOffset: '0',
  })
  const second = await client.send<ProduceAnswer>('Produce', 7, produceArgs('t', 1, ['d']))
  t.equal(second.topics[0]?.partitions[0]?.baseOffset, '3')
  const unknown = await client.send<ProduceAnswer>('Produce', 7, produceArgs('t', 5, ['x']))
  t.equal(unknown.topics[0]?.partitions[0]?.errorCode, E.UNKNOWN_TOPIC_OR_PARTITION)

  const { request } = kafkajsRequests.Produce!.protocol({ version: 7 })(produceArgs('t', 0, ['silent'], 0))
  await client.write(request)
  const next = await client.send<{ topicMetadata: unknown[] }>('Metadata', 6, {
    topics: ['t'],
    allowAutoTopicCreation: false,
  })
  t.equal(next.topicMetadata.length, 1, 'the next answer is the next request’s: acks 0 got none')
  t.same(broker.highWatermarks('t'), [1n, 4n])
  t.same(
    broker.records('t', 1).map((r) => [r.offset, r.value?.toString()]),
    [
      [0n, 'a'],
      [1n, 'b'],
      [2n, 'c'],
      [3n, 'd'],
    ],
  )

  const corrupt = customRequest(0, 7, (e) =>
    e
      .writeString(null)
      .writeInt16(-1)
      .writeInt32(1000)
      .writeInt32(1)
      .writeString('t')
      .writeInt32(1)
      .writeInt32(0)
      .writeBytes(Buffer.alloc(70, 1)),
  )
  await client.write(corrupt)
  const refused = await client.nextFrame()
  t.equal(
    refused!.readInt16BE(4 + 4 + 2 + 1 + 4 + 4),
    E.CORRUPT_MESSAGE,
    'a record field that is not a v2 batch is refused',
  )
  t.same(broker.highWatermarks('t'), [1n, 4n])
})

t.test('Fetch v11 returns stored batches, waits for records, and reports bad offsets', async (t) => {
  const { address } = await startBroker(t, { topics: { t: 2 } })
  const client = await rawClient(t, address)
  await client.send('Produce', 7, produceArgs('t', 0, ['a', 'b']))
  await client.send('Produce', 7, produceArgs('t', 0, ['c']))
  const answer = await client.send<FetchAnswer>(
    'Fetch',
    11,
    fetchArgs('t', [
      { partition: 0, fetchOffset: '1' },
      { partition: 1, fetchOffset: '0' },
    ]),
  )
  const [p0, p1] = answer.responses[0]!.partitions
  t.equal(p0?.errorCode, 0)
  t.equal(p0?.highWatermark, '3')
  t.equal(p0?.preferredReadReplica, -1)
  t.same(
    p0?.messages.map((m) => [m.offset, m.value?.toString()]),
    [
      ['0', 'a'],
      ['1', 'b'],
      ['2', 'c'],
    ],
    'whole batches from the one holding the offset',
  )
  t.same(p1?.messages, [])

  const tight = await client.send<FetchAnswer>(
    'Fetch',
    11,
    fetchArgs('t', [{ partition: 0, fetchOffset: '0', maxBytes: 10 }], 0, 10),
  )
  t.equal(
    tight.responses[0]?.partitions[0]?.messages.length,
    2,
    'the first batch goes even when over the limits',
  )

  const bad = await client.send<FetchAnswer>('Fetch', 11, {
    maxWaitTime: 0,
    minBytes: 1,
    maxBytes: 1 << 20,
    topics: [
      { topic: 't', partitions: [{ partition: 0, fetchOffset: '4', maxBytes: 1000 }] },
      { topic: 'none', partitions: [{ partition: 0, fetchOffset: '0', maxBytes: 1000 }] },
    ],
  })
  t.equal(bad.responses[0]?.partitions[0]?.errorCode, E.OFFSET_OUT_OF_RANGE)
  t.equal(bad.responses[1]?.partitions[0]?.errorCode, E.UNKNOWN_TOPIC_OR_PARTITION)

  const started = Date.now()
  const empty = await client.send<FetchAnswer>(
    'Fetch',
    11,
    fetchArgs('t', [{ partition: 1, fetchOffset: '0' }], 300),
  )
  const waited = Date.now() - started
  t.same(empty.responses[0]?.partitions[0]?.messages, [])
  t.ok(
    waited >= 200 && waited < 300 + 100,
    `answered before max_wait_ms + kafkajs’ 100 ms (${String(waited)} ms)`,
  )

  const other = await rawClient(t, address)
  const waiting = client.send<FetchAnswer>(
    'Fetch',
    11,
    fetchArgs('t', [{ partition: 1, fetchOffset: '0' }], 10_000),
  )
  const meanwhile = Date.now()
  await other.send('Metadata', 6, { topics: ['t'], allowAutoTopicCreation: false })
  t.ok(Date.now() - meanwhile < 1000, 'a long-poll holds up only its own connection')
  await other.send('Produce', 7, produceArgs('t', 1, ['wake']))
  const woken = await waiting
  t.same(
    woken.responses[0]?.partitions[0]?.messages.map((m) => m.value?.toString()),
    ['wake'],
  )
  t.ok(Date.now() - meanwhile < 5000, 'a produce wakes the waiting fetch')
})

t.test('ListOffsets v3 answers earliest, latest, and by timestamp', async (t) => {
  const { address } = await startBroker(t, { topics: { t: 1 } })
  const client = await rawClient(t, address)
  const at = (timestamp: number): object => ({
    acks: -1,
    timeout: 1000,
    topicData: [
      {
        topic: 't',
        partitions: [
          {
            partition: 0,
            messages: [
              { value: 'x', timestamp },
              { value: 'y', timestamp: timestamp + 10 },
            ],
          },
        ],
      },
    ],
  })
  await client.send('Produce', 7, at(1000))
  await client.send('Produce', 7, at(2000))
  const ask = (timestamp: number) =>
    client.send<{ responses: { partitions: { errorCode: number; offset: string }[] }[] }>('ListOffsets', 3, {
      topics: [{ topic: 't', partitions: [{ partition: 0, timestamp }] }],
    })
  const offsetOf = async (timestamp: number) => (await ask(timestamp)).responses[0]?.partitions[0]?.offset
  t.equal(await offsetOf(-2), '0')
  t.equal(await offsetOf(-1), '4')
  t.equal(await offsetOf(1005), '1', 'the first record at or after the time, inside a batch')
  t.equal(await offsetOf(1500), '2')
  t.equal(await offsetOf(9999), '-1', 'none: −1')
  const unknown = await client.send<{ responses: { partitions: { errorCode: number }[] }[] }>(
    'ListOffsets',
    3,
    { topics: [{ topic: 't', partitions: [{ partition: 3 }] }] },
  )
  t.equal(unknown.responses[0]?.partitions[0]?.errorCode, E.UNKNOWN_TOPIC_OR_PARTITION)
})

t.test('InitProducerId v1 hands out a new producer id each time', async (t) => {
  const { address } = await startBroker(t)
  const client = await rawClient(t, address)
  const first = await client.send<{ errorCode: number; producerId: string; producerEpoch: number }>(
    'InitProducerId',
    1,
    { transactionalId: null },
  )
  const second = await client.send<{ producerId: string }>('InitProducerId', 1, { transactionalId: null })
  t.equal(first.errorCode, 0)
  t.equal(first.producerEpoch, 0)
  t.not(first.producerId, second.producerId)
})

t.test('pipelined requests are answered in order on a connection', async (t) => {
  const { address } = await startBroker(t, { topics: { t: 1 } })
  const client = await rawClient(t, address)
  const ids: number[] = []
  for (let i = 0; i < 5; i++) {
    const { request } = kafkajsRequests.Metadata!.protocol({ version: 6 })({
      topics: ['t'],
      allowAutoTopicCreation: false,
    })
    ids.push(await client.write(request))
  }
  const answered: number[] = []
  for (let i = 0; i < 5; i++) answered.push((await client.nextFrame())!.readInt32BE(0))
  t.same(answered, ids)
})

t.test(
  'an unknown API, an unsupported version, or a malformed body closes the connection only',
  async (t) => {
    const { address } = await startBroker(t)
    for (const request of [
      customRequest(17, 1, () => undefined),
      customRequest(3, 5, () => undefined),
      customRequest(3, 6, (e) => e.writeInt32(1)),
    ]) {
      const client = await rawClient(t, address)
      await client.write(request)
      t.equal(
        await client.nextFrame(),
        undefined,
        `${request.apiName} v${String(request.apiVersion)}: closed`,
      )
    }
    const healthy = await rawClient(t, address)
    const answer = await healthy.send<{ errorCode: number }>('ApiVersions', 2, {})
    t.equal(answer.errorCode, 0, 'other connections go on')
  },
)
