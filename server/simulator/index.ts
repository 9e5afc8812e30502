/**
 * `stockwire-server/simulator`: shop-like order traffic through the REST API (what `stockwire demo`
 * runs), and the demo's products and saved keys for tools that drive the demo.
 */
export * from './order-simulator.js';
export { demoProducts, type DemoProduct } from '../demo/demo-products.js';
export { readDemoKeys, demoFilePath, type DemoKeys } from '../demo/demo-file.js';
