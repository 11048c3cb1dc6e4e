/**
 * The Kafka source's wait for room (`#room`), driven through a scripted consumer: kafkajs' calls are
 * made by the test, at the moments that matter, instead of by a broker's timing.
 */
import t from 'tap'
import type { ConsumerRunConfig, EachBatchPayload } from 'kafkajs'
import { kafkaSource } from '../../../adapters/kafka/index.js'
import type { KafkaClientLike, KafkaConsumerLike } from '../../../adapters/kafka/client.js'
import { silentLogger, until } from '../../pipeline/fixtures.js'

/** A client whose one consumer does nothing by itself and hands over the `eachBatch` it is run with. */
function scriptedClient() {
  const script: { eachBatch?: NonNullable<ConsumerRunConfig['eachBatch']> } = {}
  const consumer = {
    events: { GROUP_JOIN: 'group_join', REBALANCING: 'rebalancing', CRASH: 'crash' },
    connect: async () => {},
    disconnect: async () => {},
    subscribe: async () => {},
    run: (config: ConsumerRunConfig) => {
      script.eachBatch = config.eachBatch
      return Promise.resolve()
    },
    commitOffsets: async () => {},
    pause: () => {},
    resume: () => {},
    on: () => () => {},
  } as unknown as KafkaConsumerLike
  const client: KafkaClientLike = { consumer: () => consumer }
  return { client, script }
}

t.test('a read while the source heartbeats is not missed: the batch ends, fetching goes on', async (t) => {
  const { client, script } = scriptedClient()
  const source = kafkaSource({
    client,
    groupId: 'g',
    topics: ['t'],
    highWaterMark: 1,
    consumer: { heartbeatInterval: 100 },
    logger: silentLogger(),
  })
  t.teardown(() => source.stream.destroy())
  source.stream.read() // starts the source: connect, subscribe, run
  await until(() => script.eachBatch !== undefined)
  const eachBatch = script.eachBatch
  if (eachBatch === undefined) throw new Error('the source never ran its consumer')
  let heartbeats = 0
  const payload = {
    batch: {
      topic: 't',
      partition: 0,
      highWatermark: '1',
      messages: [{ offset: '0', key: null, value: Buffer.from('{}'), timestamp: '0', headers: {} }],
    },
    isRunning: () => true,
    isStale: () => false,
    heartbeat: () => {
      heartbeats++
      // The pipeline reads while the heartbeat is out: the stream asks for more (its `_read`) now,
      // and will not ask again before something is pushed.
      if (heartbeats === 1) t.ok(source.stream.read(), 'the pipeline read the batch')
      // A second heartbeat means the source went on waiting for a read that already happened.
      else return Promise.reject(new Error('still waiting for room after the pipeline read'))
      return Promise.resolve()
    },
  } as unknown as EachBatchPayload
  // One record fills the stream (highWaterMark: 1 chunk): eachBatch waits for room, heartbeating.
  await t.resolves(eachBatch(payload), 'eachBatch returns: kafkajs may fetch again')
  t.equal(heartbeats, 1)
})
