import { Worker } from 'node:worker_threads';

const tsxApi = import.meta.resolve('tsx/esm/api');

/**
 * Starts a TypeScript worker thread whether the harness runs under tsx or inside vitest: the thread
 * registers tsx itself before importing the module.
 */
export function spawnTsWorker(moduleUrl: URL, workerData: unknown): Worker {
  const code =
    `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(moduleUrl.href)}); })` +
    `.catch((error) => { console.error(error); process.exit(1); });`;
  return new Worker(code, { eval: true, workerData });
}

/** Resolves with the first message from `worker` that satisfies `accept`. */
export function nextMessage<T>(worker: Worker, accept: (message: T) => boolean, timeoutMs = 600_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`worker did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: T) => {
      if (!accept(message)) return;
      cleanup();
      resolve(message);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`worker exited with code ${code}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
