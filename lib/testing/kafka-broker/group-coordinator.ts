/**
 * The group coordinator of the classic consumer-group protocol, after Kafka's GroupCoordinator:
 * Empty → PreparingRebalance (joins parked) → CompletingRebalance (joins answered, syncs parked until
 * the leader's assignment) → Stable. Departures from Kafka, all to keep tests fast: a join completes
 * as soon as every member has rejoined (ids handed out with MEMBER_ID_REQUIRED are not waited for);
 * there is no lower bound on session timeouts; static membership (`group.instance.id`) is recorded
 * but gives no special treatment.
 *
 * Timers: one session timer per member, one expiry timer per pending member id, and a join timer
 * (plus the initial delay) per rebalancing group; all unref'd and all cleared by `close()`.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from '../../logger.js'
import {
  copyProtocols,
  createMember,
  Group,
  joinError,
  sameProtocols,
  type ClientInfo,
  type JoinRequest,
  type JoinResult,
  type Member,
  type SyncRequest,
  type SyncResult,
} from './group.js'
import { kafkaErrorCodes as E } from './protocol.js'

const EMPTY = Buffer.alloc(0)

/** Every group of the broker, and their state transitions. */
export class GroupCoordinator {
  private readonly groups = new Map<string, Group>()

  constructor(
    private readonly initialRebalanceDelayMs: number,
    private readonly logger: Logger,
  ) {}

  /** The group named `id`, if it exists. */
  get(id: string): Group | undefined {
    return this.groups.get(id)
  }

  /** Every group, in the order they were created. */
  all(): Group[] {
    return [...this.groups.values()]
  }

  /** The group named `id`, created Empty if it does not exist. */
  ensure(id: string): Group {
    let group = this.groups.get(id)
    if (group === undefined) this.groups.set(id, (group = new Group(id)))
    return group
  }

  join(request: JoinRequest, client: ClientInfo): JoinResult | Promise<JoinResult> {
    const { groupId, memberId } = request
    if (groupId === '') return joinError(E.INVALID_GROUP_ID, memberId)
    if (request.sessionTimeoutMs <= 0) return joinError(E.INVALID_SESSION_TIMEOUT, memberId)
    if (request.protocolType === '' || request.protocols.length === 0)
      return joinError(E.INCONSISTENT_GROUP_PROTOCOL, memberId)
    const group = this.ensure(groupId)
    const existing = group.members.get(memberId)
    const others = group.members.size - (existing === undefined ? 0 : 1)
    if (
      others > 0 &&
      (request.protocolType !== group.protocolType ||
        group.commonProtocols(request.protocols, memberId).length === 0)
    )
      return joinError(E.INCONSISTENT_GROUP_PROTOCOL, memberId)

    if (memberId === '') {
      // Not a member yet: a client that never comes back with its id must not hold up the join.
      const id = `${client.clientId}-${randomUUID()}`
      const expire = (): void => {
        group.pendingMemberIds.delete(id)
      }
      group.pendingMemberIds.set(id, unrefTimer(request.sessionTimeoutMs, expire))
      return joinError(E.MEMBER_ID_REQUIRED, id)
    }

    if (existing === undefined) {
      const pending = group.pendingMemberIds.get(memberId)
      if (pending === undefined) return joinError(E.UNKNOWN_MEMBER_ID, memberId)
      clearTimeout(pending)
      group.pendingMemberIds.delete(memberId)
      const member = createMember(request, client)
      if (group.members.size === 0) group.protocolType = request.protocolType
      group.members.set(memberId, member)
      return this.park(group, member, `${memberId} joined`)
    }

    // A known member rejoins. Unless the group is rebalancing anyway, one whose subscription did not
    // change (and is not the leader, who may need to reassign) gets the current generation back.
    const unchanged = sameProtocols(existing.protocols, request.protocols)
    if (
      unchanged &&
      (group.state === 'CompletingRebalance' || (group.state === 'Stable' && existing.id !== group.leaderId))
    ) {
      this.touch(group, existing)
      return group.joinResult(existing)
    }
    if (existing.sessionTimeoutMs !== request.sessionTimeoutMs) {
      clearTimeout(existing.sessionTimer)
      existing.sessionTimer = undefined
      existing.sessionTimeoutMs = request.sessionTimeoutMs
    }
    existing.rebalanceTimeoutMs = request.rebalanceTimeoutMs
    existing.protocols = copyProtocols(request.protocols)
    return this.park(group, existing, `${memberId} rejoined`)
  }

  /** Parks `member`'s JoinGroup until the join phase completes, starting one if needed. */
  private park(group: Group, member: Member, reason: string): Promise<JoinResult> {
    return new Promise((resolve) => {
      // A second join of the same member replaces the first, which is told to rejoin.
      member.pendingJoin?.(joinError(E.REBALANCE_IN_PROGRESS, member.id))
      member.pendingJoin = resolve
      this.touch(group, member)
      if (group.state === 'PreparingRebalance') this.tryCompleteJoin(group)
      else this.prepareRebalance(group, reason)
    })
  }

  private prepareRebalance(group: Group, reason: string): void {
    if (group.state === 'CompletingRebalance') {
      for (const member of group.members.values()) {
        member.assignment = EMPTY
        const answer = member.pendingSync
        member.pendingSync = undefined
        answer?.({ errorCode: E.REBALANCE_IN_PROGRESS, assignment: EMPTY })
      }
    }
    const wasEmpty = group.state === 'Empty'
    group.state = 'PreparingRebalance'
    this.logger.debug({ group: group.id, generation: group.generationId, reason }, 'group rebalancing')
    if (wasEmpty && this.initialRebalanceDelayMs > 0) {
      group.delayTimer = unrefTimer(this.initialRebalanceDelayMs, () => {
        group.delayTimer = undefined
        this.tryCompleteJoin(group)
      })
    }
    const timeout = Math.max(0, ...[...group.members.values()].map((m) => m.rebalanceTimeoutMs))
    group.joinTimer = unrefTimer(timeout, () => {
      group.joinTimer = undefined
      this.completeJoinAfterTimeout(group)
    })
    this.tryCompleteJoin(group)
  }

  private tryCompleteJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance' || group.delayTimer !== undefined) return
    for (const member of group.members.values()) if (member.pendingJoin === undefined) return
    this.completeJoin(group)
  }

  private completeJoinAfterTimeout(group: Group): void {
    if (group.state !== 'PreparingRebalance') return
    for (const member of [...group.members.values()])
      if (member.pendingJoin === undefined) this.remove(group, member, 'did not rejoin in time', false)
    clearTimeout(group.delayTimer)
    group.delayTimer = undefined
    this.completeJoin(group)
  }

  private completeJoin(group: Group): void {
    clearTimeout(group.joinTimer)
    clearTimeout(group.delayTimer)
    group.joinTimer = group.delayTimer = undefined
    group.generationId++
    const first = group.members.values().next()
    if (first.done === true) {
      group.state = 'Empty'
      group.protocolType = group.protocolName = group.leaderId = null
      this.logger.debug({ group: group.id, generation: group.generationId }, 'group empty')
      return
    }
    const leader = group.members.get(group.leaderId ?? '') ?? first.value
    group.leaderId = leader.id
    group.protocolName = group.commonProtocols(leader.protocols)[0] ?? leader.protocols[0]?.name ?? ''
    group.state = 'CompletingRebalance'
    this.logger.debug(
      { group: group.id, generation: group.generationId, members: group.members.size },
      'group joined',
    )
    for (const member of group.members.values()) {
      const answer = member.pendingJoin
      member.pendingJoin = undefined
      this.touch(group, member)
      answer?.(group.joinResult(member))
    }
  }

  sync(request: SyncRequest): SyncResult | Promise<SyncResult> {
    const group = this.groups.get(request.groupId)
    const member = group?.members.get(request.memberId)
    if (group === undefined || member === undefined)
      return { errorCode: E.UNKNOWN_MEMBER_ID, assignment: EMPTY }
    if (request.generationId !== group.generationId)
      return { errorCode: E.ILLEGAL_GENERATION, assignment: EMPTY }
    this.touch(group, member)
    if (group.state === 'Stable') return { errorCode: 0, assignment: member.assignment }
    if (group.state !== 'CompletingRebalance')
      return { errorCode: E.REBALANCE_IN_PROGRESS, assignment: EMPTY }
    return new Promise((resolve) => {
      member.pendingSync?.({ errorCode: E.REBALANCE_IN_PROGRESS, assignment: EMPTY })
      member.pendingSync = resolve
      if (member.id !== group.leaderId) return
      const assigned = new Map(request.assignments.map((a) => [a.memberId, a.assignment]))
      for (const m of group.members.values()) m.assignment = Buffer.from(assigned.get(m.id) ?? EMPTY)
      group.state = 'Stable'
      this.logger.debug({ group: group.id, generation: group.generationId }, 'group stable')
      for (const m of group.members.values()) {
        const answer = m.pendingSync
        m.pendingSync = undefined
        answer?.({ errorCode: 0, assignment: m.assignment })
      }
    })
  }

  /** A Heartbeat's error code; it keeps a known member alive whatever the answer. */
  heartbeat(groupId: string, generationId: number, memberId: string): number {
    const group = this.groups.get(groupId)
    const member = group?.members.get(memberId)
    if (group === undefined || member === undefined) return E.UNKNOWN_MEMBER_ID
    if (generationId !== group.generationId) return E.ILLEGAL_GENERATION
    this.touch(group, member)
    return group.state === 'PreparingRebalance' ? E.REBALANCE_IN_PROGRESS : 0
  }

  /** A LeaveGroup of one member: its error code. */
  leave(groupId: string, memberId: string): number {
    const group = this.groups.get(groupId)
    const member = group?.members.get(memberId)
    if (group === undefined || member === undefined) return E.UNKNOWN_MEMBER_ID
    this.remove(group, member, `${memberId} left`, true)
    return 0
  }

  /**
   * Whether an OffsetCommit may store its offsets: its error code, as Kafka decides it. A standalone
   * commit (generation < 0) needs an empty or new group; a member's commit is refused only while the
   * group awaits the leader's assignment, so members can still commit what they finished when a
   * rebalance starts.
   */
  commitError(groupId: string, generationId: number, memberId: string): number {
    const group = this.groups.get(groupId)
    if (generationId < 0 && (group === undefined || group.state === 'Empty')) {
      this.ensure(groupId)
      return 0
    }
    if (group === undefined) return E.ILLEGAL_GENERATION
    if (group.state === 'CompletingRebalance') return E.REBALANCE_IN_PROGRESS
    const member = group.members.get(memberId)
    if (member === undefined) return E.UNKNOWN_MEMBER_ID
    if (generationId !== group.generationId) return E.ILLEGAL_GENERATION
    this.touch(group, member)
    return 0
  }

  /** Restarts `member`'s session timer. */
  private touch(group: Group, member: Member): void {
    if (member.sessionTimer !== undefined) {
      member.sessionTimer.refresh()
      return
    }
    member.sessionTimer = unrefTimer(member.sessionTimeoutMs, () => {
      member.sessionTimer = undefined
      if (group.members.get(member.id) !== member) return
      // A parked JoinGroup or SyncGroup keeps a member alive, as in Kafka: the rebalance bounds it.
      if (member.pendingJoin !== undefined || member.pendingSync !== undefined) this.touch(group, member)
      else this.remove(group, member, `${member.id} session timed out`, true)
    })
  }

  private remove(group: Group, member: Member, reason: string, rebalance: boolean): void {
    clearTimeout(member.sessionTimer)
    member.sessionTimer = undefined
    group.members.delete(member.id)
    if (group.leaderId === member.id) group.leaderId = null
    const join = member.pendingJoin
    const sync = member.pendingSync
    member.pendingJoin = member.pendingSync = undefined
    join?.(joinError(E.UNKNOWN_MEMBER_ID, member.id))
    sync?.({ errorCode: E.UNKNOWN_MEMBER_ID, assignment: EMPTY })
    this.logger.debug({ group: group.id, member: member.id, reason }, 'group member removed')
    if (!rebalance) return
    if (group.state === 'PreparingRebalance') this.tryCompleteJoin(group)
    else if (group.state !== 'Empty') this.prepareRebalance(group, reason)
  }

  /** Clears every timer and answers every parked request with COORDINATOR_NOT_AVAILABLE. */
  close(): void {
    for (const group of this.groups.values()) {
      clearTimeout(group.joinTimer)
      clearTimeout(group.delayTimer)
      group.joinTimer = group.delayTimer = undefined
      for (const timer of group.pendingMemberIds.values()) clearTimeout(timer)
      group.pendingMemberIds.clear()
      for (const member of group.members.values()) {
        clearTimeout(member.sessionTimer)
        member.sessionTimer = undefined
        const join = member.pendingJoin
        const sync = member.pendingSync
        member.pendingJoin = member.pendingSync = undefined
        join?.(joinError(E.COORDINATOR_NOT_AVAILABLE, member.id))
        sync?.({ errorCode: E.COORDINATOR_NOT_AVAILABLE, assignment: EMPTY })
      }
    }
  }
}

function unrefTimer(ms: number, fn: () => void): NodeJS.Timeout {
  return setTimeout(fn, ms).unref()
}
