/** The group coordinator's state machine on its own, without sockets. */
import t from 'tap'
import { GroupCoordinator } from '../../../lib/testing/kafka-broker/group-coordinator.js'
import type { JoinRequest, JoinResult } from '../../../lib/testing/kafka-broker/group.js'
import { kafkaErrorCodes as E } from '../../../lib/testing.js'
import { silentLogger } from '../../pipeline/fixtures.js'
import { eventually } from './fixtures.js'

const client = { clientId: 'c', clientHost: '/127.0.0.1' }

function request(memberId: string, overrides: Partial<JoinRequest> = {}): JoinRequest {
  return {
    groupId: 'g',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    memberId,
    groupInstanceId: null,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.from('m') }],
    ...overrides,
  }
}

/** A new member: the MEMBER_ID_REQUIRED round, then the parked (or answered) join. */
async function newMember(
  coordinator: GroupCoordinator,
  overrides: Partial<JoinRequest> = {},
): Promise<{ id: string; joined: Promise<JoinResult> }> {
  const first = await coordinator.join(request('', overrides), client)
  return {
    id: first.memberId,
    joined: Promise.resolve(coordinator.join(request(first.memberId, overrides), client)),
  }
}

function coordinatorFor(t: { teardown(fn: () => void): void }, delay = 0): GroupCoordinator {
  const coordinator = new GroupCoordinator(delay, silentLogger())
  t.teardown(() => {
    coordinator.close()
  })
  return coordinator
}

t.test(
  'a stable follower rejoining unchanged keeps its generation; the leader rejoining rebalances',
  async (t) => {
    const coordinator = coordinatorFor(t)
    const a = await newMember(coordinator)
    await a.joined
    const b = await newMember(coordinator)
    const [rejoinedA, joinedB] = await Promise.all([coordinator.join(request(a.id), client), b.joined])
    t.equal(rejoinedA.generationId, 2)
    t.equal(joinedB.generationId, 2)
    const syncB = coordinator.sync({
      groupId: 'g',
      generationId: 2,
      memberId: b.id,
      groupInstanceId: null,
      assignments: [],
    })
    await coordinator.sync({
      groupId: 'g',
      generationId: 2,
      memberId: a.id,
      groupInstanceId: null,
      assignments: [{ memberId: b.id, assignment: Buffer.from('B') }],
    })
    t.equal((await syncB).assignment.toString(), 'B')
    const again = await coordinator.join(request(b.id), client)
    t.match(again, { errorCode: 0, generationId: 2, members: [] }, 'answered at once, no rebalance')
    t.equal(coordinator.get('g')?.state, 'Stable')
    const leader = coordinator.join(request(a.id), client)
    t.equal(coordinator.get('g')?.state, 'PreparingRebalance', 'the leader’s rejoin starts a rebalance')
    const [led, followed] = await Promise.all([leader, coordinator.join(request(b.id), client)])
    t.equal(led.generationId, 3)
    t.equal(followed.generationId, 3)
  },
)

t.test(
  'a changed subscription during CompletingRebalance aborts the parked syncs with REBALANCE_IN_PROGRESS',
  async (t) => {
    const coordinator = coordinatorFor(t)
    const a = await newMember(coordinator)
    await a.joined
    const b = await newMember(coordinator)
    await Promise.all([coordinator.join(request(a.id), client), b.joined])
    const parked = coordinator.sync({
      groupId: 'g',
      generationId: 2,
      memberId: b.id,
      groupInstanceId: null,
      assignments: [],
    })
    const changed = coordinator.join(
      request(b.id, { protocols: [{ name: 'range', metadata: Buffer.from('other') }] }),
      client,
    )
    t.match(await parked, { errorCode: E.REBALANCE_IN_PROGRESS })
    const [rejoinedA, rejoinedB] = await Promise.all([coordinator.join(request(a.id), client), changed])
    t.equal(rejoinedA.generationId, 3)
    t.equal(rejoinedB.generationId, 3)
  },
)

t.test(
  'when the leader leaves before assigning, the followers are told to rejoin and a new leader is chosen',
  async (t) => {
    const coordinator = coordinatorFor(t)
    const a = await newMember(coordinator)
    await a.joined
    const b = await newMember(coordinator)
    await Promise.all([coordinator.join(request(a.id), client), b.joined])
    const parked = coordinator.sync({
      groupId: 'g',
      generationId: 2,
      memberId: b.id,
      groupInstanceId: null,
      assignments: [],
    })
    t.equal(coordinator.leave('g', a.id), 0)
    t.match(await parked, { errorCode: E.REBALANCE_IN_PROGRESS })
    const rejoined = await coordinator.join(request(b.id), client)
    t.match(rejoined, { errorCode: 0, generationId: 3, leader: b.id })
  },
)

t.test('no protocol in common is INCONSISTENT_GROUP_PROTOCOL; empty protocols too', async (t) => {
  const coordinator = coordinatorFor(t)
  await (
    await newMember(coordinator)
  ).joined
  const other = await coordinator.join(
    request('', { protocols: [{ name: 'roundrobin', metadata: Buffer.alloc(0) }] }),
    client,
  )
  t.equal(other.errorCode, E.INCONSISTENT_GROUP_PROTOCOL)
  t.equal(
    (await coordinator.join(request('', { protocols: [] }), client)).errorCode,
    E.INCONSISTENT_GROUP_PROTOCOL,
  )
  t.equal((await coordinator.join(request('', { groupId: '' }), client)).errorCode, E.INVALID_GROUP_ID)
  t.equal(
    (await coordinator.join(request('', { sessionTimeoutMs: 0 }), client)).errorCode,
    E.INVALID_SESSION_TIMEOUT,
  )
})

t.test('a pending member id expires after the session timeout', async (t) => {
  const coordinator = coordinatorFor(t)
  const first = await coordinator.join(request('', { sessionTimeoutMs: 50 }), client)
  t.equal(first.errorCode, E.MEMBER_ID_REQUIRED)
  await eventually(() => coordinator.get('g')?.pendingMemberIds.size === 0)
  t.equal((await coordinator.join(request(first.memberId), client)).errorCode, E.UNKNOWN_MEMBER_ID)
})

t.test('close answers parked joins and syncs with COORDINATOR_NOT_AVAILABLE', async (t) => {
  const coordinator = new GroupCoordinator(0, silentLogger())
  const a = await newMember(coordinator)
  await a.joined
  const b = await newMember(coordinator)
  coordinator.close()
  t.match(await b.joined, { errorCode: E.COORDINATOR_NOT_AVAILABLE })
})
