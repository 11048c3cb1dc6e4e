/**
 * The state of one consumer group of the classic group protocol, and the answers the coordinator
 * gives to JoinGroup and SyncGroup. The transitions are in `group-coordinator.ts`.
 */

/** The states of Kafka's GroupCoordinator (`Dead` is only ever reported, for unknown groups). */
export type GroupStateName = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable'

/** A protocol (assignor) a member supports, with its subscription metadata. */
export interface GroupProtocol {
  readonly name: string
  readonly metadata: Buffer
}

/** A JoinGroup request, decoded. */
export interface JoinRequest {
  readonly groupId: string
  readonly sessionTimeoutMs: number
  readonly rebalanceTimeoutMs: number
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly protocolType: string
  readonly protocols: readonly GroupProtocol[]
}

/** A SyncGroup request, decoded. */
export interface SyncRequest {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly assignments: readonly { memberId: string; assignment: Buffer }[]
}

/** Who sent a request: the client id of its header and the peer address of its connection. */
export interface ClientInfo {
  readonly clientId: string
  readonly clientHost: string
}

/** What a JoinGroup is answered with. */
export interface JoinResult {
  readonly errorCode: number
  readonly generationId: number
  readonly protocolName: string
  readonly leader: string
  readonly memberId: string
  /** Every member and its metadata for the chosen protocol: for the leader only, `[]` for the others. */
  readonly members: readonly { memberId: string; groupInstanceId: string | null; metadata: Buffer }[]
}

/** What a SyncGroup is answered with. */
export interface SyncResult {
  readonly errorCode: number
  readonly assignment: Buffer
}

/** A member of a group. */
export interface Member {
  readonly id: string
  readonly clientId: string
  readonly clientHost: string
  readonly groupInstanceId: string | null
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  protocols: readonly GroupProtocol[]
  /** Its assignment of the current generation, as the leader sent it (opaque to the broker). */
  assignment: Buffer
  /** Answers its parked JoinGroup, while the group prepares a rebalance. */
  pendingJoin: ((result: JoinResult) => void) | undefined
  /** Answers its parked SyncGroup, while the leader's assignment is awaited. */
  pendingSync: ((result: SyncResult) => void) | undefined
  /** Expires the member when it is silent for `sessionTimeoutMs`. */
  sessionTimer: NodeJS.Timeout | undefined
}

/** A consumer group. */
export class Group {
  state: GroupStateName = 'Empty'
  /** +1 at every completed join (and when the last member goes). */
  generationId = 0
  protocolType: string | null = null
  protocolName: string | null = null
  leaderId: string | null = null
  readonly members = new Map<string, Member>()
  /** Ids given with MEMBER_ID_REQUIRED, not members until they join with them; expire after the session timeout. */
  readonly pendingMemberIds = new Map<string, NodeJS.Timeout>()
  /** Ends the join phase when members are slow to rejoin (the largest rebalance timeout). */
  joinTimer: NodeJS.Timeout | undefined
  /** Holds the first join of an empty group for `initialRebalanceDelayMs`, so that others can come along. */
  delayTimer: NodeJS.Timeout | undefined

  constructor(readonly id: string) {}

  /** The protocols every member supports, in the order of `protocols` (a candidate's list). */
  commonProtocols(protocols: readonly GroupProtocol[], except?: string): string[] {
    const others = [...this.members.values()].filter((m) => m.id !== except)
    return protocols
      .map((p) => p.name)
      .filter((name) => others.every((m) => m.protocols.some((p) => p.name === name)))
  }

  /** The member's metadata for the group's chosen protocol. */
  metadataOf(member: Member): Buffer {
    return member.protocols.find((p) => p.name === this.protocolName)?.metadata ?? Buffer.alloc(0)
  }

  /** The JoinGroup answer of the current generation for `member`. */
  joinResult(member: Member): JoinResult {
    const leader = this.leaderId ?? ''
    return {
      errorCode: 0,
      generationId: this.generationId,
      protocolName: this.protocolName ?? '',
      leader,
      memberId: member.id,
      members:
        member.id === leader
          ? [...this.members.values()].map((m) => ({
              memberId: m.id,
              groupInstanceId: m.groupInstanceId,
              metadata: this.metadataOf(m),
            }))
          : [],
    }
  }
}

/** A JoinGroup answer with an error. */
export function joinError(errorCode: number, memberId = ''): JoinResult {
  return { errorCode, generationId: -1, protocolName: '', leader: '', memberId, members: [] }
}

/** Whether two protocol lists are the same names with the same metadata, in the same order. */
export function sameProtocols(a: readonly GroupProtocol[], b: readonly GroupProtocol[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => {
      const q = b[i]
      return q !== undefined && p.name === q.name && p.metadata.equals(q.metadata)
    })
  )
}

/** A new member, from its (second) JoinGroup. */
export function createMember(request: JoinRequest, client: ClientInfo): Member {
  return {
    id: request.memberId,
    clientId: client.clientId,
    clientHost: client.clientHost,
    groupInstanceId: request.groupInstanceId,
    sessionTimeoutMs: request.sessionTimeoutMs,
    rebalanceTimeoutMs: request.rebalanceTimeoutMs,
    protocols: copyProtocols(request.protocols),
    assignment: Buffer.alloc(0),
    pendingJoin: undefined,
    pendingSync: undefined,
    sessionTimer: undefined,
  }
}

/** Copies of `protocols`, whose metadata are views of a request. */
export function copyProtocols(protocols: readonly GroupProtocol[]): GroupProtocol[] {
  return protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) }))
}
