/** Opening an onnxruntime session the same way for every model op. */
import * as ort from 'onnxruntime-node';
import { sessionProviders } from './providers.js';

export interface SessionLoadOptions {
  /** the op's `providers` param (see sessionProviders) */
  providers?: readonly string[];
  /** intra-op threads; 0 or absent = onnxruntime's default */
  threads?: number;
}

/**
 * Session options for a model op: providers for this process's device, full graph optimisation,
 * the thread count when given. Throws (permanently) when no usable provider is left.
 */
export function onnxSessionOptions(opts: SessionLoadOptions = {}): ort.InferenceSession.SessionOptions {
  const so: ort.InferenceSession.SessionOptions = {
    executionProviders: sessionProviders(opts.providers) as ort.InferenceSession.ExecutionProviderConfig[],
    graphOptimizationLevel: 'all',
  };
  if (opts.threads && opts.threads > 0) so.intraOpNumThreads = opts.threads;
  return so;
}

/** Create a session; a file onnxruntime cannot load becomes the op's own error via `fail(reason)`. */
export async function createOnnxSession(
  file: string,
  so: ort.InferenceSession.SessionOptions,
  fail: (reason: string) => Error,
): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(file, so);
  } catch (e) {
    throw fail((e as Error).message);
  }
}
