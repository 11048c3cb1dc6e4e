/**
 * The group coordinator through the wire: raw members send kafkajs-encoded FindCoordinator,
 * JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups and
 * ListGroups requests, and read the answers with kafkajs' decoders.
 */
import t from 'tap'
import { AssignerProtocol } from 'kafkajs'
import { kafkaErrorCodes as E } from '../../../lib/testing.js'
import { customRequest, eventually, rawClient, require, startBroker, type RawClient } from './fixtures.js'

const metadata = AssignerProtocol.MemberMetadata.encode({
  version: 0,
  topics: ['t'],
  userData: Buffer.alloc(0),
})
const assignment = (partitions: Record<string, number[]>): Buffer =>
  AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: partitions, userData: Buffer.alloc(0) })

interface JoinAnswer {
  errorCode: number
  generationId: number
  groupProtocol: string
  leaderId: string
  memberId: string
  members: { memberId: string; memberMetadata: Buffer }[]
}

interface Timeouts {
  sessionTimeout?: number
  rebalanceTimeout?: number
  protocolType?: string
}

function joinArgs(groupId: string, memberId: string, options: Timeouts = {}): object {
  return {
    groupId,
    sessionTimeout: 10_000,
    rebalanceTimeout: 10_000,
    memberId,
    protocolType: 'consumer',
    groupProtocols: [{ name: 'RoundRobinAssigner', metadata }],
    ...options,
  }
}

/** Joins with an empty member id, then with the id MEMBER_ID_REQUIRED handed out. */
async function join(client: RawClient, groupId: string, options: Timeouts = {}): Promise<JoinAnswer> {
  const first = await client.send<JoinAnswer>('JoinGroup', 5, joinArgs(groupId, '', options))
  if (first.errorCode !== E.MEMBER_ID_REQUIRED) return first
  return client.send<JoinAnswer>('JoinGroup', 5, joinArgs(groupId, first.memberId, options))
}

const rejoin = (client: RawClient, groupId: string, memberId: string, options: Timeouts = {}) =>
  client.send<JoinAnswer>('JoinGroup', 5, joinArgs(groupId, memberId, options))

const sync = (
  client: RawClient,
  groupId: string,
  generationId: number,
  memberId: string,
  plan: Record<string, Record<string, number[]>> = {},
) =>
  client.send<{ errorCode: number; memberAssignment: Buffer }>('SyncGroup', 3, {
    groupId,
    generationId,
    memberId,
    groupAssignment: Object.entries(plan).map(([id, partitions]) => ({
      memberId: id,
      memberAssignment: assignment(partitions),
    })),
  })

const heartbeat = async (client: RawClient, groupId: string, generationId: number, memberId: string) =>
  (
    await client.send<{ errorCode: number }>('Heartbeat', 3, {
      groupId,
      groupGenerationId: generationId,
      memberId,
    })
  ).errorCode

const commit = async (
  client: RawClient,
  groupId: string,
  generationId: number,
  memberId: string,
  offset = '5',
) =>
  (
    await client.send<{ responses: { partitions: { errorCode: number }[] }[] }>('OffsetCommit', 5, {
      groupId,
      groupGenerationId: generationId,
      memberId,
      topics: [{ topic: 't', partitions: [{ partition: 0, offset, metadata: 'm' }] }],
    })
  ).responses[0]?.partitions[0]?.errorCode

t.test('FindCoordinator v2 names this node for any group', async (t) => {
  const { address } = await startBroker(t)
  const client = await rawClient(t, address)
  const answer = await client.send<{
    errorCode: number
    coordinator: { nodeId: number; host: string; port: number }
  }>('GroupCoordinator', 2, { groupId: 'g' })
  t.equal(answer.errorCode, 0)
  t.same(answer.coordinator, { nodeId: 0, host: '127.0.0.1', port: Number(address.split(':')[1]) })
})

t.test('a lone member joins with MEMBER_ID_REQUIRED, leads, syncs, is described, and leaves', async (t) => {
  const { broker, address } = await startBroker(t, { topics: { t: 2 } })
  const client = await rawClient(t, address, 'lone')
  const first = await client.send<JoinAnswer>('JoinGroup', 5, joinArgs('g', ''))
  t.equal(first.errorCode, E.MEMBER_ID_REQUIRED)
  t.match(first.memberId, /^lone-[0-9a-f-]{36}$/)
  t.equal(broker.groupState('g')?.members.length, 0, 'a pending id is not a member')
  const joined = await rejoin(client, 'g', first.memberId)
  t.equal(joined.errorCode, 0)
  t.equal(joined.generationId, 1)
  t.equal(joined.leaderId, first.memberId)
  t.equal(joined.groupProtocol, 'RoundRobinAssigner')
  t.same(
    joined.members.map((m) => [m.memberId, m.memberMetadata.equals(metadata)]),
    [[first.memberId, true]],
  )
  t.equal(broker.groupState('g')?.state, 'CompletingRebalance')

  const synced = await sync(client, 'g', 1, first.memberId, { [first.memberId]: { t: [1, 0] } })
  t.equal(synced.errorCode, 0)
  t.same(AssignerProtocol.MemberAssignment.decode(synced.memberAssignment)?.assignment, { t: [1, 0] })
  t.equal(await heartbeat(client, 'g', 1, first.memberId), 0)
  t.equal(await heartbeat(client, 'g', 7, first.memberId), E.ILLEGAL_GENERATION)
  t.equal(await heartbeat(client, 'g', 1, 'nobody'), E.UNKNOWN_MEMBER_ID)
  const state = broker.groupState('g')
  t.match(state, {
    state: 'Stable',
    generationId: 1,
    protocolType: 'consumer',
    protocol: 'RoundRobinAssigner',
    leaderId: first.memberId,
  })
  t.same(
    state?.members.map((m) => [m.memberId, m.clientId, m.clientHost, m.assignment]),
    [[first.memberId, 'lone', '/127.0.0.1', { t: [0, 1] }]],
  )

  const described = await client.send<{
    groups: {
      errorCode: number
      groupId: string
      state: string
      protocolType: string
      protocol: string
      members: {
        memberId: string
        clientId: string
        clientHost: string
        memberMetadata: Buffer
        memberAssignment: Buffer
      }[]
    }[]
  }>('DescribeGroups', 2, { groupIds: ['g', 'unknown'] })
  const [g, unknown] = described.groups
  t.match(g, {
    errorCode: 0,
    groupId: 'g',
    state: 'Stable',
    protocolType: 'consumer',
    protocol: 'RoundRobinAssigner',
  })
  t.same(
    g?.members.map((m) => [
      m.memberId,
      m.clientId,
      m.clientHost,
      m.memberMetadata.equals(metadata),
      m.memberAssignment.equals(assignment({ t: [1, 0] })),
    ]),
    [[first.memberId, 'lone', '/127.0.0.1', true, true]],
  )
  t.match(unknown, { errorCode: 0, groupId: 'unknown', state: 'Dead', members: [] })
  const listed = await client.send<{
    errorCode: number
    groups: { groupId: string; protocolType: string }[]
  }>('ListGroups', 2, {})
  t.same(listed.groups, [{ groupId: 'g', protocolType: 'consumer' }])

  const left = await client.send<{ errorCode: number; members: { memberId: string; errorCode: number }[] }>(
    'LeaveGroup',
    3,
    { groupId: 'g', memberId: first.memberId },
  )
  t.same(
    left.members.map((m) => [m.memberId, m.errorCode]),
    [[first.memberId, 0]],
  )
  t.match(broker.groupState('g'), { state: 'Empty', generationId: 2, leaderId: null, members: [] })
  const again = await client.send<{ members: { errorCode: number }[] }>('LeaveGroup', 3, {
    groupId: 'g',
    memberId: first.memberId,
  })
  t.equal(again.members[0]?.errorCode, E.UNKNOWN_MEMBER_ID)
  t.equal((await rejoin(client, 'g', 'made-up')).errorCode, E.UNKNOWN_MEMBER_ID)
})

t.test(
  'a join rebalances a stable group: heartbeats say so, the leader assigns, syncs wait for it',
  async (t) => {
    const { broker, address } = await startBroker(t, { topics: { t: 2 } })
    const a = await rawClient(t, address, 'a')
    const b = await rawClient(t, address, 'b')
    const joinedA = await join(a, 'g')
    const idA = joinedA.memberId
    await sync(a, 'g', 1, idA, { [idA]: { t: [0, 1] } })
    t.equal(await commit(a, 'g', 1, idA, '3'), 0)

    const joiningB = join(b, 'g')
    await eventually(() => broker.groupState('g')?.state === 'PreparingRebalance')
    t.equal(
      await heartbeat(a, 'g', 1, idA),
      E.REBALANCE_IN_PROGRESS,
      'members learn of a rebalance from heartbeats',
    )
    t.equal(await commit(a, 'g', 1, idA, '4'), 0, 'members may still commit while the group prepares')
    const [rejoinedA, joinedB] = await Promise.all([rejoin(a, 'g', idA), joiningB])
    t.equal(rejoinedA.generationId, 2)
    t.equal(joinedB.generationId, 2)
    t.equal(rejoinedA.leaderId, idA, 'the leader stays the leader')
    t.equal(rejoinedA.members.length, 2)
    t.same(joinedB.members, [], 'followers get no member list')
    t.equal(await commit(a, 'g', 2, idA), E.REBALANCE_IN_PROGRESS, 'no commit while awaiting the assignment')
    t.equal(await sync(a, 'g', 1, idA).then((r) => r.errorCode), E.ILLEGAL_GENERATION)

    const syncB = sync(b, 'g', 2, joinedB.memberId)
    await eventually(() => broker.groupState('g')?.state === 'CompletingRebalance')
    const syncA = await sync(a, 'g', 2, idA, { [idA]: { t: [0] }, [joinedB.memberId]: { t: [1] } })
    t.same(AssignerProtocol.MemberAssignment.decode(syncA.memberAssignment)?.assignment, { t: [0] })
    t.same(AssignerProtocol.MemberAssignment.decode((await syncB).memberAssignment)?.assignment, { t: [1] })
    t.same(
      broker.groupState('g')?.members.map((m) => m.assignment),
      [{ t: [0] }, { t: [1] }],
    )

    t.equal(await commit(a, 'g', 2, idA, '9'), 0)
    t.equal(await commit(a, 'g', 1, idA), E.ILLEGAL_GENERATION)
    t.equal(await commit(a, 'g', 2, 'nobody'), E.UNKNOWN_MEMBER_ID)
    t.equal(await commit(a, 'g', -1, ''), E.UNKNOWN_MEMBER_ID, 'a standalone commit needs an empty group')
    t.equal(await commit(a, 'other', -1, ''), 0, 'a standalone commit to a new group')
    t.equal(await commit(a, 'nothing', 3, 'x'), E.ILLEGAL_GENERATION)
    t.same(broker.committedOffsets('g'), { t: { 0: 9n } })
    t.same(broker.committedOffsets('other'), { t: { 0: 5n } })

    const fetched = await a.send<{
      errorCode: number
      responses: {
        topic: string
        partitions: { partition: number; offset: string; metadata: string | null; errorCode: number }[]
      }[]
    }>('OffsetFetch', 4, {
      groupId: 'g',
      topics: [{ topic: 't', partitions: [{ partition: 0 }, { partition: 1 }] }],
    })
    t.equal(fetched.errorCode, 0)
    t.same(fetched.responses, [
      {
        topic: 't',
        partitions: [
          { partition: 0, offset: '9', metadata: 'm', errorCode: 0 },
          { partition: 1, offset: '-1', metadata: null, errorCode: 0 },
        ],
      },
    ])

    // kafkajs never sends a null topic list; another client may, meaning "every committed topic".
    const { decode: decodeOffsetFetch } =
      require('kafkajs/src/protocol/requests/offsetFetch/v4/response') as {
        decode: (b: Buffer) => Promise<{ responses: { topic: string; partitions: { offset: string }[] }[] }>
      }
    await a.write(customRequest(9, 4, (e) => e.writeString('g').writeInt32(-1)))
    const all = await decodeOffsetFetch((await a.nextFrame())!.subarray(4))
    t.same(
      all.responses.map((r) => [r.topic, r.partitions.map((p) => p.offset)]),
      [['t', ['9']]],
    )

    const listed = await a.send<{ groups: { groupId: string }[] }>('ListGroups', 2, {})
    t.same(listed.groups.map((g) => g.groupId).sort(), ['g', 'other'])
  },
)

t.test(
  'a member that does not rejoin in the rebalance timeout is dropped; pending ids are not waited for',
  async (t) => {
    const { broker, address } = await startBroker(t)
    const a = await rawClient(t, address, 'a')
    const b = await rawClient(t, address, 'b')
    const c = await rawClient(t, address, 'c')
    const options = { rebalanceTimeout: 300 }
    const joinedA = await join(a, 'g', options)
    const joiningB = join(b, 'g', options)
    await eventually(() => broker.groupState('g')?.state === 'PreparingRebalance')
    const pendingC = await c.send<JoinAnswer>('JoinGroup', 5, joinArgs('g', '', options))
    t.equal(pendingC.errorCode, E.MEMBER_ID_REQUIRED)
    const [rejoinedA, joinedB] = await Promise.all([rejoin(a, 'g', joinedA.memberId, options), joiningB])
    t.equal(rejoinedA.generationId, 2, 'completed without the pending id')
    t.equal(joinedB.generationId, 2)

    const started = Date.now()
    const joiningC = rejoin(c, 'g', pendingC.memberId, options)
    await eventually(() => broker.groupState('g')?.state === 'PreparingRebalance')
    const [third, joinedC] = await Promise.all([rejoin(a, 'g', joinedA.memberId, options), joiningC])
    const waited = Date.now() - started
    t.equal(third.generationId, 3)
    t.equal(joinedC.generationId, 3)
    t.ok(waited >= 250, `the join waited for the rebalance timeout (${String(waited)} ms)`)
    t.same(
      third.members.map((m) => m.memberId).sort(),
      [joinedA.memberId, pendingC.memberId].sort(),
      'b was dropped',
    )
    t.equal(await heartbeat(b, 'g', 3, joinedB.memberId), E.UNKNOWN_MEMBER_ID)
  },
)

t.test('a silent member expires after its session timeout and the group empties', async (t) => {
  const { broker, address } = await startBroker(t)
  const client = await rawClient(t, address)
  const joined = await join(client, 'g', { sessionTimeout: 200 })
  await sync(client, 'g', 1, joined.memberId, { [joined.memberId]: {} })
  t.equal(broker.groupState('g')?.state, 'Stable')
  await eventually(() => broker.groupState('g')?.state === 'Empty', 3000)
  t.match(broker.groupState('g'), { generationId: 2, members: [] })
})

t.test('a different protocol type is inconsistent; the initial delay holds the first join', async (t) => {
  const { address } = await startBroker(t, { initialRebalanceDelayMs: 300 })
  const a = await rawClient(t, address)
  const b = await rawClient(t, address)
  const started = Date.now()
  const joinedA = await join(a, 'g')
  t.ok(Date.now() - started >= 250, 'the first join waited for the initial delay')
  t.equal(joinedA.errorCode, 0)
  const other = await b.send<JoinAnswer>('JoinGroup', 5, joinArgs('g', '', { protocolType: 'connect' }))
  t.equal(other.errorCode, E.INCONSISTENT_GROUP_PROTOCOL)
})
