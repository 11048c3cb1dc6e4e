/**
 * The consumer-group APIs a member sends: FindCoordinator v2 (always this node), JoinGroup v5,
 * SyncGroup v3, Heartbeat v3 and LeaveGroup v3. They decode and encode; the state machine is the
 * `GroupCoordinator`. JoinGroup and SyncGroup are long-polls: they hold only their own connection.
 */
import { Encoder, type Decoder } from '../codec.js'
import type { JoinRequest, SyncRequest } from '../group.js'
import { joinError, type JoinResult, type SyncResult } from '../group.js'
import type { ApiHandler, RequestContext } from './api.js'

/** A FindCoordinator v2 request. */
export interface FindCoordinatorRequest {
  readonly key: string
  /** 0: a group, 1: a transactional id (answered the same way: there is one node). */
  readonly keyType: number
}

/** A Heartbeat v3 request. */
export interface HeartbeatRequest {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  readonly groupInstanceId: string | null
}

/** A LeaveGroup v3 request. */
export interface LeaveGroupRequest {
  readonly groupId: string
  readonly members: readonly { memberId: string; groupInstanceId: string | null }[]
}

/** JoinGroup v5 and SyncGroup v3 requests, decoded (defined with the group state). */
export type { JoinRequest as JoinGroupRequest, SyncRequest as SyncGroupRequest }

function coordinatorAnswer(errorCode: number, context: RequestContext): Encoder {
  const { nodeId, host, port } = context.broker.address
  const ok = errorCode === 0
  return new Encoder()
    .writeInt32(0)
    .writeInt16(errorCode)
    .writeString(null)
    .writeInt32(ok ? nodeId : -1)
    .writeString(ok ? host : '')
    .writeInt32(ok ? port : -1)
}

/** FindCoordinator v2. */
export const findCoordinatorApi: ApiHandler<FindCoordinatorRequest> = {
  name: 'FindCoordinator',
  decode: (d: Decoder) => ({ key: d.readString(), keyType: d.readInt8() }),
  handle: (_request, context) => coordinatorAnswer(0, context),
  fail: (_request, errorCode, context) => coordinatorAnswer(errorCode, context),
}

function joinAnswer(result: JoinResult): Encoder {
  return new Encoder()
    .writeInt32(0)
    .writeInt16(result.errorCode)
    .writeInt32(result.generationId)
    .writeString(result.protocolName)
    .writeString(result.leader)
    .writeString(result.memberId)
    .writeArray(result.members, (e, m) =>
      e.writeString(m.memberId).writeString(m.groupInstanceId).writeBytes(m.metadata),
    )
}

/** JoinGroup v5 (a long-poll while the group prepares a rebalance). */
export const joinGroupApi: ApiHandler<JoinRequest> = {
  name: 'JoinGroup',
  decode: (d: Decoder) => ({
    groupId: d.readString(),
    sessionTimeoutMs: d.readInt32(),
    rebalanceTimeoutMs: d.readInt32(),
    memberId: d.readString(),
    groupInstanceId: d.readNullableString(),
    protocolType: d.readString(),
    protocols: d.readArray((p) => ({ name: p.readString(), metadata: p.readBytes() })),
  }),
  handle: async (request, { header, connection, broker }) =>
    joinAnswer(
      await broker.groups.join(request, {
        clientId: header.clientId ?? '',
        clientHost: connection.clientHost,
      }),
    ),
  fail: (request, errorCode) => joinAnswer(joinError(errorCode, request.memberId)),
}

function syncAnswer(result: SyncResult): Encoder {
  return new Encoder().writeInt32(0).writeInt16(result.errorCode).writeBytes(result.assignment)
}

/** SyncGroup v3 (a long-poll until the leader sends the assignment). */
export const syncGroupApi: ApiHandler<SyncRequest> = {
  name: 'SyncGroup',
  decode: (d: Decoder) => ({
    groupId: d.readString(),
    generationId: d.readInt32(),
    memberId: d.readString(),
    groupInstanceId: d.readNullableString(),
    assignments: d.readArray((a) => ({ memberId: a.readString(), assignment: a.readBytes() })),
  }),
  handle: async (request, { broker }) => syncAnswer(await broker.groups.sync(request)),
  fail: (_request, errorCode) => syncAnswer({ errorCode, assignment: Buffer.alloc(0) }),
}

function errorAnswer(errorCode: number): Encoder {
  return new Encoder().writeInt32(0).writeInt16(errorCode)
}

/** Heartbeat v3. */
export const heartbeatApi: ApiHandler<HeartbeatRequest> = {
  name: 'Heartbeat',
  decode: (d: Decoder) => ({
    groupId: d.readString(),
    generationId: d.readInt32(),
    memberId: d.readString(),
    groupInstanceId: d.readNullableString(),
  }),
  handle: (request, { broker }) =>
    errorAnswer(broker.groups.heartbeat(request.groupId, request.generationId, request.memberId)),
  fail: (_request, errorCode) => errorAnswer(errorCode),
}

function leaveAnswer(
  errorCode: number,
  members: readonly { memberId: string; groupInstanceId: string | null; errorCode: number }[],
): Encoder {
  return new Encoder()
    .writeInt32(0)
    .writeInt16(errorCode)
    .writeArray(members, (e, m) =>
      e.writeString(m.memberId).writeString(m.groupInstanceId).writeInt16(m.errorCode),
    )
}

/** LeaveGroup v3. */
export const leaveGroupApi: ApiHandler<LeaveGroupRequest> = {
  name: 'LeaveGroup',
  decode: (d: Decoder) => ({
    groupId: d.readString(),
    members: d.readArray((m) => ({ memberId: m.readString(), groupInstanceId: m.readNullableString() })),
  }),
  handle: (request, { broker }) =>
    leaveAnswer(
      0,
      request.members.map((m) => ({ ...m, errorCode: broker.groups.leave(request.groupId, m.memberId) })),
    ),
  fail: (request, errorCode) =>
    leaveAnswer(
      errorCode,
      request.members.map((m) => ({ ...m, errorCode })),
    ),
}
