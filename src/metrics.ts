/**
 * Prometheus metrics of a run (prom-client), served on --metrics-port (127.0.0.1 unless
 * --metrics-host says otherwise) at /metrics. Gauges that describe the manifest (queue depth)
 * are read from it at scrape time.
 */
import http from 'node:http';
import client from 'prom-client';

export interface MetricsSources {
  queueDepth: () => Array<{ op: string; state: string; n: number }>;
  inflight: () => Record<string, number>;
  workers: () => Array<{ worker: number; device: string; duty_cycle: number; busy_ms: number; decode_wait_ms: number; restarts: number }>;
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly frames: client.Counter<'op'>;
  readonly tasks: client.Counter<'op' | 'outcome'>;
  readonly taskSeconds: client.Histogram<'op'>;
  readonly deadLetters: client.Counter<'op'>;
  readonly alerts: client.Counter<'probe'>;
  readonly rowsCommitted: client.Counter<'table'>;
  private server?: http.Server;

  constructor(sources: MetricsSources) {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'egopipe_' });
    const r = this.registry;
    this.frames = new client.Counter({ name: 'egopipe_frames_total', help: 'video frames processed, by op', labelNames: ['op'], registers: [r] });
    this.tasks = new client.Counter({
      name: 'egopipe_tasks_total',
      help: 'task attempts by op and outcome (finished, retry, dead, requeued)',
      labelNames: ['op', 'outcome'],
      registers: [r],
    });
    this.taskSeconds = new client.Histogram({
      name: 'egopipe_task_seconds',
      help: 'wall time of finished tasks, by op',
      labelNames: ['op'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers: [r],
    });
    this.deadLetters = new client.Counter({ name: 'egopipe_dead_letters_total', help: 'items dead-lettered, by op', labelNames: ['op'], registers: [r] });
    this.alerts = new client.Counter({ name: 'egopipe_probe_alerts_total', help: 'data-quality probe alerts, by probe', labelNames: ['probe'], registers: [r] });
    this.rowsCommitted = new client.Counter({ name: 'egopipe_rows_committed_total', help: 'rows committed to Parquet, by table', labelNames: ['table'], registers: [r] });
    new client.Gauge({
      name: 'egopipe_queue_depth',
      help: 'tasks waiting (pending or retry) and running, by op and state',
      labelNames: ['op', 'state'],
      registers: [r],
      collect() {
        this.reset();
        for (const q of sources.queueDepth()) this.set({ op: q.op, state: q.state }, q.n);
      },
    });
    new client.Gauge({
      name: 'egopipe_inflight',
      help: 'tasks in flight, by pool (main, cpu, gpu)',
      labelNames: ['pool'],
      registers: [r],
      collect() {
        this.reset();
        for (const [pool, n] of Object.entries(sources.inflight())) this.set({ pool }, n);
      },
    });
    const workerGauge = (name: string, help: string, pick: (w: ReturnType<MetricsSources['workers']>[number]) => number) =>
      new client.Gauge({
        name,
        help,
        labelNames: ['worker', 'device'],
        registers: [r],
        collect() {
          this.reset();
          for (const w of sources.workers()) this.set({ worker: String(w.worker), device: w.device }, pick(w));
        },
      });
    workerGauge('egopipe_model_worker_duty_cycle', 'share of working time a model worker computed (not waiting for frames)', (w) => w.duty_cycle);
    workerGauge('egopipe_model_worker_busy_seconds', 'time a model worker spent in tasks', (w) => w.busy_ms / 1000);
    workerGauge('egopipe_model_worker_decode_wait_seconds', 'time a model worker waited for decoded frames', (w) => w.decode_wait_ms / 1000);
    workerGauge('egopipe_model_worker_restarts', 'model-worker restarts (crash, OOM, timeout kill)', (w) => w.restarts);
  }

  /** Serve /metrics; resolves with the bound port. */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    this.server = http.createServer(async (req, res) => {
      if (req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404).end('see /metrics\n');
        return;
      }
      try {
        const body = await this.registry.metrics();
        res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(body);
      } catch (e) {
        res.writeHead(500).end(String(e));
      }
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve((this.server!.address() as { port: number }).port));
    });
  }

  async close(): Promise<void> {
    if (this.server) await new Promise<void>((r) => this.server!.close(() => r()));
  }
}
