import { isGrpcServiceError, ServiceError } from '@temporalio/client';
import { BulkgenError } from '../errors';

const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

/** True when a Temporal call failed because the server could not be reached (or did not answer in time). */
export function isTemporalUnreachable(err: unknown): boolean {
  const grpc = err instanceof ServiceError ? err.cause : err;
  return isGrpcServiceError(grpc) && (grpc.code === GRPC_UNAVAILABLE || grpc.code === GRPC_DEADLINE_EXCEEDED);
}

/** TEMPORAL_UNAVAILABLE naming the address; the original error as the cause. */
export function temporalUnavailable(err: unknown, address: string): BulkgenError {
  return new BulkgenError('TEMPORAL_UNAVAILABLE', { address, detail: (err as Error).message }, undefined, { cause: err });
}
