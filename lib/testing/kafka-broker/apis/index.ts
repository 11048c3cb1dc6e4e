/**
 * Every API handler by name, and the request types users see in `'request'` events. Each API is
 * answered at exactly one version (`protocol.ts`), ApiVersions excepted.
 */
import type { ApiName } from '../protocol.js'
import type { ApiHandler } from './api.js'
import { apiVersionsApi, type ApiVersionsRequest } from './api-versions.js'
import { fetchApi, type FetchRequest } from './fetch.js'
import {
  describeGroupsApi,
  listGroupsApi,
  type DescribeGroupsRequest,
  type ListGroupsRequest,
} from './group-admin.js'
import {
  findCoordinatorApi,
  heartbeatApi,
  joinGroupApi,
  leaveGroupApi,
  syncGroupApi,
  type FindCoordinatorRequest,
  type HeartbeatRequest,
  type JoinGroupRequest,
  type LeaveGroupRequest,
  type SyncGroupRequest,
} from './group-membership.js'
import { initProducerIdApi, type InitProducerIdRequest } from './init-producer-id.js'
import { listOffsetsApi, type ListOffsetsRequest } from './list-offsets.js'
import { metadataApi, type MetadataRequest } from './metadata.js'
import {
  offsetCommitApi,
  offsetFetchApi,
  type OffsetCommitRequest,
  type OffsetFetchRequest,
} from './offsets.js'
import { produceApi, type ProduceRequest } from './produce.js'
import {
  createTopicsApi,
  deleteTopicsApi,
  type CreateTopicsRequest,
  type DeleteTopicsRequest,
} from './topic-admin.js'

/** The decoded body of each API's request, by API name. */
export interface ApiRequests {
  Produce: ProduceRequest
  Fetch: FetchRequest
  ListOffsets: ListOffsetsRequest
  Metadata: MetadataRequest
  OffsetCommit: OffsetCommitRequest
  OffsetFetch: OffsetFetchRequest
  FindCoordinator: FindCoordinatorRequest
  JoinGroup: JoinGroupRequest
  Heartbeat: HeartbeatRequest
  LeaveGroup: LeaveGroupRequest
  SyncGroup: SyncGroupRequest
  DescribeGroups: DescribeGroupsRequest
  ListGroups: ListGroupsRequest
  ApiVersions: ApiVersionsRequest
  CreateTopics: CreateTopicsRequest
  DeleteTopics: DeleteTopicsRequest
  InitProducerId: InitProducerIdRequest
}

/** The handler of each API. */
export const handlers: { readonly [K in ApiName]: ApiHandler<ApiRequests[K]> } = {
  Produce: produceApi,
  Fetch: fetchApi,
  ListOffsets: listOffsetsApi,
  Metadata: metadataApi,
  OffsetCommit: offsetCommitApi,
  OffsetFetch: offsetFetchApi,
  FindCoordinator: findCoordinatorApi,
  JoinGroup: joinGroupApi,
  Heartbeat: heartbeatApi,
  LeaveGroup: leaveGroupApi,
  SyncGroup: syncGroupApi,
  DescribeGroups: describeGroupsApi,
  ListGroups: listGroupsApi,
  ApiVersions: apiVersionsApi,
  CreateTopics: createTopicsApi,
  DeleteTopics: deleteTopicsApi,
  InitProducerId: initProducerIdApi,
}
