/**
 * The shepherd's calls to the other services, typed by the OpenAPI documents those services
 * publish (./*.openapi.ts, generated: npm run openapi:clients). A renamed field or route there is a
 * type error here, not a surprise at 2 a.m.
 */
import { callJson } from '@stocks/common';
import type { paths as LoaderApi } from './load-data.openapi.ts';
import type { paths as EstimatorApi } from './nn-estimator.openapi.ts';

type Json<T> = T extends { content: { 'application/json': infer Body } } ? Body : never;

export type LoadRequest = Json<LoaderApi['/load']['post']['requestBody']>;
export type LoadResult = Json<LoaderApi['/load']['post']['responses'][200]>;
export type MonitoringReport = Json<EstimatorApi['/monitoring']['get']['responses'][200]>;
export type TrainRequest = Json<EstimatorApi['/train']['post']['requestBody']>;
export type JobAccepted = Json<EstimatorApi['/train']['post']['responses'][202]>;
export type Job = Json<EstimatorApi['/jobs/{id}']['get']['responses'][200]>;

/** Who is calling and under which request id (so logs line up across services). */
export interface CallContext {
  requestId: string;
  token?: string;
}

export function loaderClient(baseUrl: string) {
  return {
    load: (body: LoadRequest, ctx: CallContext) => callJson<LoadResult>(baseUrl, '/load', { body, ...ctx }),
  };
}

export function estimatorClient(baseUrl: string) {
  return {
    monitoring: (ticker: string, ctx: CallContext) =>
      callJson<MonitoringReport>(baseUrl, `/monitoring?ticker=${encodeURIComponent(ticker)}`, { ...ctx, timeoutMs: 30_000 }),
    submit: (kind: 'train' | 'fine-tune', body: TrainRequest, ctx: CallContext) =>
      callJson<JobAccepted>(baseUrl, kind === 'train' ? '/train' : '/fine-tune', { body, ...ctx }),
    job: (id: string, ctx: CallContext) => callJson<Job>(baseUrl, `/jobs/${encodeURIComponent(id)}`, { ...ctx, timeoutMs: 10_000 }),
  };
}
