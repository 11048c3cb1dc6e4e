// Type tests: tap type-checks this file, so each `@ts-expect-error` must really be an error and each
// assignment must really compile.
import t from 'tap'
import {
  KafkaTestBroker,
  type BrokerGroupState,
  type BrokerRecord,
  type BrokerRequestEvent,
  type KafkaTestBrokerOptions,
} from '../../../lib/testing.js'
import { silentLogger } from '../../pipeline/fixtures.js'

t.test('the request event narrows its body by API name; results are typed', (t) => {
  const options: KafkaTestBrokerOptions = { topics: { t: 2 }, logger: silentLogger() }
  // @ts-expect-error defaultPartitions is a number
  const bad: KafkaTestBrokerOptions = { defaultPartitions: '2' }
  const broker = new KafkaTestBroker(options)
  const offsets: bigint[] = []
  broker.on('request', (event: BrokerRequestEvent) => {
    if (event.api === 'OffsetCommit')
      for (const topic of event.request.topics) offsets.push(...topic.partitions.map((p) => p.offset))
    // @ts-expect-error only OffsetCommit requests have a generationId
    if (event.api === 'Produce') t.ok(event.request.generationId)
  })
  t.throws(() => {
    // @ts-expect-error an API the broker does not answer
    broker.injectError('SaslHandshake', 3)
  })
  const records: BrokerRecord[] = broker.records('t')
  const state: BrokerGroupState | undefined = broker.groupState('g')
  const marks: bigint[] = broker.highWatermarks('t')
  t.same([records, state, marks, offsets, bad], [[], undefined, [0n, 0n], [], { defaultPartitions: '2' }])
  t.end()
})
