/**
 * kafkajs consumer groups against the broker, end to end over TCP: partitions split between
 * members and rebalanced on leave and on a member's silence, offsets committed and picked up again,
 * and a rejoin forced by an injected REBALANCE_IN_PROGRESS.
 */
import t from 'tap'
import { AssignerProtocol, type Consumer, type ConsumerGroupJoinEvent, type Kafka } from 'kafkajs'
import { kafkaErrorCodes as E, type BrokerRequestEvent } from '../../../lib/testing.js'
import { deferred } from '../../pipeline/fixtures.js'
import { eventually, fastConsumer, kafkaOf, rawClient, startBroker, handler } from './fixtures.js'

type Assignment = Record<string, number[]>

/** The assignment of each GROUP_JOIN of `consumer`, in order, and a way to wait for one that matches. */
function joins(consumer: Consumer): {
  seen: Assignment[]
  next(match: (a: Assignment) => boolean): Promise<Assignment>
} {
  const seen: Assignment[] = []
  const waiters: { match: (a: Assignment) => boolean; resolve: (a: Assignment) => void }[] = []
  consumer.on(consumer.events.GROUP_JOIN, (event: ConsumerGroupJoinEvent) => {
    const assignment = event.payload.memberAssignment
    seen.push(assignment)
    for (const waiter of [...waiters])
      if (waiter.match(assignment)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(assignment)
      }
  })
  return {
    seen,
    next: (match) => {
      const last = seen.at(-1)
      if (last !== undefined && match(last)) return Promise.resolve(last)
      return new Promise((resolve) => waiters.push({ match, resolve }))
    },
  }
}

const count = (a: Assignment, topic = 't'): number => a[topic]?.length ?? 0

async function produce(kafka: Kafka, topic: string, values: string[], partition?: number): Promise<void> {
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: values.map((value) => ({ value, partition })) })
  await producer.disconnect()
}

t.test('two consumers split the partitions and the survivor takes them all when one leaves', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { t: 4 } })
  const kafka = kafkaOf(address)
  const a = kafka.consumer(fastConsumer('split'))
  const b = kafka.consumer(fastConsumer('split'))
  const joinsA = joins(a)
  const joinsB = joins(b)
  const received = new Map<string, string>()
  for (const consumer of [a, b]) {
    await consumer.connect()
    await consumer.subscribe({ topic: 't', fromBeginning: true })
  }
  const eachMessage = (name: string) =>
    handler(({ message }: { message: { value: Buffer | null } }) => {
      received.set(message.value?.toString() ?? '', name)
    })
  await a.run({ eachMessage: eachMessage('a') })
  t.same(await joinsA.next((x) => count(x) === 4), { t: [0, 1, 2, 3] }, 'alone, a gets every partition')
  await b.run({ eachMessage: eachMessage('b') })
  const [splitA, splitB] = await Promise.all([
    joinsA.next((x) => count(x) === 2),
    joinsB.next((x) => count(x) === 2),
  ])
  t.same(
    [...(splitA.t ?? []), ...(splitB.t ?? [])].sort(),
    [0, 1, 2, 3],
    'the partitions are split between them',
  )
  const state = broker.groupState('split')
  t.equal(state?.state, 'Stable')
  t.same(
    state?.members.map((m) => m.assignment?.t?.length),
    [2, 2],
  )

  await produce(kafka, 't', ['p0', 'p1', 'p2', 'p3'])
  await eventually(() => received.size === 4)
  t.same(new Set(received.values()), new Set(['a', 'b']), 'both consume')

  await b.disconnect()
  t.same(await joinsA.next((x) => count(x) === 4), { t: [0, 1, 2, 3] }, 'after b left, a has them all')
  await a.disconnect()
  t.match(broker.groupState('split'), { state: 'Empty', members: [] })
})

t.test('a member that goes silent is expired and its partitions go to the others', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { t: 2 } })
  const kafka = kafkaOf(address)
  const consumer = kafka.consumer(fastConsumer('silent'))
  const seen = joins(consumer)
  await consumer.connect()
  await consumer.subscribe({ topic: 't' })
  await consumer.run({ eachMessage: handler(() => undefined) })
  await seen.next((x) => count(x) === 2)

  // A raw member subscribes to t, takes what the leader gives it, then never heartbeats again.
  const raw = await rawClient(t, address, 'raw')
  const metadata = AssignerProtocol.MemberMetadata.encode({
    version: 0,
    topics: ['t'],
    userData: Buffer.alloc(0),
  })
  const args = (memberId: string) => ({
    groupId: 'silent',
    sessionTimeout: 500,
    rebalanceTimeout: 3000,
    memberId,
    protocolType: 'consumer',
    groupProtocols: [{ name: 'RoundRobinAssigner', metadata }],
  })
  const first = await raw.send<{ memberId: string }>('JoinGroup', 5, args(''))
  const joined = await raw.send<{ errorCode: number; generationId: number }>(
    'JoinGroup',
    5,
    args(first.memberId),
  )
  t.equal(joined.errorCode, 0)
  const synced = await raw.send<{ errorCode: number; memberAssignment: Buffer }>('SyncGroup', 3, {
    groupId: 'silent',
    generationId: joined.generationId,
    memberId: first.memberId,
    groupAssignment: [],
  })
  t.equal(synced.errorCode, 0)
  t.equal(
    AssignerProtocol.MemberAssignment.decode(synced.memberAssignment)?.assignment.t?.length,
    1,
    'the leader gave it one partition',
  )
  await seen.next((x) => count(x) === 1)
  t.same(
    await seen.next((x) => count(x) === 2),
    { t: [0, 1] },
    'after its session timed out, the kafkajs member has both again',
  )
  t.notOk(broker.groupState('silent')?.members.some((m) => m.memberId === first.memberId))
  await consumer.disconnect()
})

t.test('committed offsets survive the consumer: a new one resumes after them', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { t: 1 } })
  const kafka = kafkaOf(address)
  await produce(
    kafka,
    't',
    Array.from({ length: 10 }, (_, i) => `m${String(i)}`),
  )
  const first = kafka.consumer(fastConsumer('resume'))
  const done = deferred()
  let n = 0
  await first.connect()
  await first.subscribe({ topic: 't', fromBeginning: true })
  await first.run({
    eachMessage: handler(() => {
      if (++n === 10) done.resolve()
    }),
  })
  await done.promise
  await first.disconnect()
  t.same(broker.committedOffsets('resume'), { t: { 0: 10n } })
  const admin = kafka.admin()
  await admin.connect()
  t.same(await admin.fetchOffsets({ groupId: 'resume', topics: ['t'] }), [
    { topic: 't', partitions: [{ partition: 0, offset: '10', metadata: null }] },
  ])
  await admin.disconnect()

  await produce(kafka, 't', ['late'])
  const second = kafka.consumer(fastConsumer('resume'))
  const got = deferred<string[]>()
  const values: string[] = []
  await second.connect()
  await second.subscribe({ topic: 't', fromBeginning: true })
  await second.run({
    eachMessage: handler(({ message }) => {
      values.push(message.value?.toString() ?? '')
      got.resolve(values)
    }),
  })
  t.same(await got.promise, ['late'], 'only what came after the committed offset')
  await second.disconnect()
  t.same(broker.committedOffsets('resume'), { t: { 0: 11n } })
})

t.test('an OffsetCommit answered REBALANCE_IN_PROGRESS makes kafkajs rejoin and go on', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { t: 1 } })
  const kafka = kafkaOf(address)
  const requests: BrokerRequestEvent[] = []
  broker.on('request', (event) => requests.push(event))
  const consumer = kafka.consumer(fastConsumer('forced'))
  const values: string[] = []
  await consumer.connect()
  await consumer.subscribe({ topic: 't', fromBeginning: true })
  await consumer.run({
    eachMessage: handler(({ message }) => {
      values.push(message.value?.toString() ?? '')
    }),
  })
  broker.injectError('OffsetCommit', E.REBALANCE_IN_PROGRESS)
  await produce(kafka, 't', ['one'])
  await eventually(() =>
    requests.some((r) => r.api === 'OffsetCommit' && r.injectedError === E.REBALANCE_IN_PROGRESS),
  )
  const refused = requests.findIndex((r) => r.injectedError !== undefined)
  await eventually(() => requests.slice(refused).some((r) => r.api === 'JoinGroup'))
  await produce(kafka, 't', ['two'])
  await eventually(() => broker.committedOffsets('forced').t?.[0] === 2n)
  t.ok(values.includes('two'))
  t.equal(broker.groupState('forced')?.state, 'Stable')
  await consumer.disconnect()
})
