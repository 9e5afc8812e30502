/**
 * `stockwire-server` as a library: start a node in this process with the same configuration the
 * `stockwire` command reads from the environment.
 *
 * @example
 * const node = await startStockwire(loadConfig(process.env));
 * console.log(node.apiUrl, node.wsUrl);
 * await node.close();
 */
export { ConfigError, loadConfig, type Config } from './config.js';
export { startStockwire, type RunningStockwire, type StartOptions } from './main.js';
