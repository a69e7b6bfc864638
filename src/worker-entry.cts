/**
 * CommonJS entry point of the Piscina worker threads.
 *
 * Piscina first tries `require(filename)`. On Node >= 20.19 that loads an ES module through
 * require(esm), and Node 20 can abort the whole process inside that path ("v8::Module::IsGraphAsync
 * must be used on an instantiated module") when a worker is replaced after a timeout. Pointing
 * Piscina at this CommonJS file keeps require() on plain CommonJS; the ESM worker is loaded with a
 * real dynamic import(), once per thread.
 */
type Handler = (msg: unknown) => Promise<unknown>;
let handler: Promise<Handler> | undefined;

module.exports = function run(msg: unknown): Promise<unknown> {
  handler ??= import('./worker.js').then((m) => m.default as Handler);
  return handler.then((h) => h(msg));
};
