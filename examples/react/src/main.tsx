/** @jsxImportSource react */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createStockClient } from 'stockwire';
import { App, type Product } from './app.js';
import { StockProvider } from './use-stock.js';

/** What the example's server writes into the page: where Stockwire is and which publishable key to use. */
interface ExampleConfig {
  readonly apiUrl: string;
  readonly wsUrl: string;
  readonly publishableKey: string;
  readonly products: readonly Product[];
}

const config = (window as unknown as { STOCKWIRE_EXAMPLE: ExampleConfig }).STOCKWIRE_EXAMPLE;

// One client for the whole app: one socket, however many products are on screen.
const client = createStockClient({ key: config.publishableKey, apiUrl: config.apiUrl, wsUrl: config.wsUrl });
window.addEventListener('pagehide', () => client.close());

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <StockProvider client={client}>
      <App products={config.products} />
    </StockProvider>
  </StrictMode>,
);
