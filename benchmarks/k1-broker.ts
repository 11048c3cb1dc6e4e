/**
 * K1's Kafka broker, in a process of its own (`child_process.fork`) so that it does not share the
 * measuring process's event loop: the project's Kafka test broker on 127.0.0.1. Sends
 * `{ address }` once listening; on `{ offsets: group, topic }` answers `{ committed, ends }` (sums
 * of the group's committed offsets and of the topic's high watermarks). Exits when the parent
 * disconnects.
 */
import { pino } from 'pino'
import { KafkaTestBroker } from '../lib/testing.js'

const broker = new KafkaTestBroker({ logger: pino({ level: 'silent' }), defaultPartitions: 8 })
const address = await broker.start()
process.send!({ address })
process.on('message', (message: { offsets?: string; topic?: string }) => {
  if (message.offsets === undefined || message.topic === undefined) return
  const committed = Object.values(broker.committedOffsets(message.offsets)[message.topic] ?? {})
  const ends = broker.highWatermarks(message.topic)
  process.send!({
    committed: committed.reduce((n, o) => n + Number(o), 0),
    ends: ends.reduce((n, o) => n + Number(o), 0),
    partitions: committed.length,
  })
})
process.on('disconnect', () => {
  void broker.stop()
})
