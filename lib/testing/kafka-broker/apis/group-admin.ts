/**
 * DescribeGroups v2 and ListGroups v2, what `admin.describeGroups` / `admin.listGroups` and
 * `consumer.describeGroup` send. An unknown group is described as `Dead` with no error, as Kafka does.
 */
import { Encoder, type Decoder } from '../codec.js'
import type { Group } from '../group.js'
import type { ApiHandler } from './api.js'

/** A DescribeGroups v2 request. */
export interface DescribeGroupsRequest {
  readonly groups: readonly string[]
}

/** A ListGroups v2 request: no fields. */
export type ListGroupsRequest = Record<string, never>

function describeGroup(e: Encoder, id: string, group: Group | undefined, errorCode: number): void {
  e.writeInt16(errorCode).writeString(id)
  if (group === undefined || errorCode !== 0) {
    e.writeString(errorCode === 0 ? 'Dead' : '')
      .writeString('')
      .writeString('')
      .writeInt32(0)
    return
  }
  // Member metadata exists once a protocol is chosen; assignments once the group is Stable.
  const joined = group.state === 'CompletingRebalance' || group.state === 'Stable'
  e.writeString(group.state)
    .writeString(group.protocolType ?? '')
    .writeString(joined ? (group.protocolName ?? '') : '')
    .writeArray([...group.members.values()], (m, member) =>
      m
        .writeString(member.id)
        .writeString(member.clientId)
        .writeString(member.clientHost)
        .writeBytes(joined ? group.metadataOf(member) : Buffer.alloc(0))
        .writeBytes(group.state === 'Stable' ? member.assignment : Buffer.alloc(0)),
    )
}

/** DescribeGroups v2. */
export const describeGroupsApi: ApiHandler<DescribeGroupsRequest> = {
  name: 'DescribeGroups',
  decode: (d: Decoder) => ({ groups: d.readArray((g) => g.readString()) }),
  handle: (request, { broker }) =>
    new Encoder().writeInt32(0).writeArray(request.groups, (e, id) => {
      describeGroup(e, id, broker.groups.get(id), 0)
    }),
  fail: (request, errorCode) =>
    new Encoder().writeInt32(0).writeArray(request.groups, (e, id) => {
      describeGroup(e, id, undefined, errorCode)
    }),
}

function listAnswer(errorCode: number, groups: readonly Group[]): Encoder {
  return new Encoder()
    .writeInt32(0)
    .writeInt16(errorCode)
    .writeArray(groups, (e, group) => e.writeString(group.id).writeString(group.protocolType ?? ''))
}

/** ListGroups v2. */
export const listGroupsApi: ApiHandler<ListGroupsRequest> = {
  name: 'ListGroups',
  decode: () => ({}),
  handle: (_request, { broker }) => listAnswer(0, broker.groups.all()),
  fail: (_request, errorCode) => listAnswer(errorCode, []),
}
