/** The HTTP errors for job requests the training wing's admission refused (training/admission.ts). */
import { HttpError } from '@stocks/common';
import type { BacktestAdmission, Busy, FineTuneAdmission, TrainAdmission } from '../training/admission.ts';
import { canonicalParams } from '../training/admission.ts';
import type { BacktestRequest, TrainRequest } from '../schemas.ts';
import { noStoredPrices } from '../errors.ts';

type Refused<A> = Exclude<A, { outcome: 'accepted' }>;

export function trainRefusal(refused: Refused<TrainAdmission>, { end_date }: TrainRequest): HttpError {
  switch (refused.outcome) {
    case 'no-prices': return noStoredPrices(refused.ticker);
    case 'too-few-bars': {
      const { ticker, needed, got } = refused;
      const upTo = end_date ? ` up to ${end_date}` : '';
      return new HttpError(422, `${ticker} has ${got} stored bars${upTo}; training needs at least ${needed}. `
        + (end_date ? 'Choose a later end_date or load' : 'Load') + ' a longer history first.', { needed, got });
    }
    case 'busy': return busyWithOtherJob(refused);
  }
}

export function fineTuneRefusal(refused: Refused<FineTuneAdmission>): HttpError {
  switch (refused.outcome) {
    case 'no-champion':
      return new HttpError(404, `${refused.ticker} has no model to fine-tune. Train one first: POST /train {"ticker":"${refused.ticker}"}.`);
    case 'nothing-new': {
      const { ticker, champion_version, trained_through, newest_stored } = refused;
      return new HttpError(409, `${ticker} has no bars after ${trained_through}, the last one champion version ${champion_version} was trained on; it stays the champion. Load newer prices first (2_load_data POST /load).`, {
        champion_version,
        trained_through,
        newest_stored,
      });
    }
    case 'busy': return busyWithOtherJob(refused);
  }
}

export function backtestRefusal(refused: Refused<BacktestAdmission>, { origins, horizon }: BacktestRequest): HttpError {
  switch (refused.outcome) {
    case 'no-prices': return noStoredPrices(refused.ticker);
    case 'too-few-bars': {
      const { ticker, needed, got } = refused;
      return new HttpError(422, `${ticker} has ${got} stored bars; ${origins} origins with horizon ${horizon} need at least ${needed}. Ask for fewer origins or load a longer history.`, { needed, got });
    }
    case 'busy': return busyWithOtherJob(refused);
  }
}

/** 409 naming the active job, so the caller can wait for it. */
function busyWithOtherJob({ kind, ticker, active }: Busy): HttpError {
  return new HttpError(
    409,
    `A ${kind} job of ${ticker} with other parameters (${canonicalParams(active.params)}) is ${active.status}: job ${active.job_id}. `
      + `Wait for it (GET /jobs/${active.job_id}), then ask again.`,
    { job_id: active.job_id, status: active.status, params: active.params },
  );
}
