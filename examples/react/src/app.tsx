/** @jsxImportSource react */
import type { StockView } from 'stockwire';
import { useConnectionState, useStock } from './use-stock.js';

export interface Product {
  readonly sku: string;
  readonly name: string;
  readonly price: string;
}

export function App({ products }: { products: readonly Product[] }) {
  const state = useConnectionState();
  return (
    <main>
      <header>
        <h1>Stockwire + React</h1>
        <p className="muted">
          <code>useStock(sku)</code> on top of <code>createStockClient</code> from the <code>stockwire</code> package.
          Feed: <span data-testid="connection" className={`feed feed-${state}`}>{state}</span>
        </p>
      </header>
      <ul className="grid">
        {products.map((p) => (
          <ProductCard key={p.sku} product={p} />
        ))}
      </ul>
    </main>
  );
}

function ProductCard({ product }: { product: Product }) {
  const stock = useStock(product.sku);
  const soldOut = stock?.status === 'sold_out';
  return (
    <li className="card" data-sku={product.sku} data-status={stock?.status ?? 'loading'}>
      <b>{product.name}</b>
      <span className="price">{product.price}</span>
      <span className={`stock stock-${stock?.status ?? 'loading'}`} aria-live="polite" data-testid={`stock-${product.sku}`}>
        {label(stock)}
      </span>
      <button type="button" disabled={soldOut || stock === undefined}>
        {soldOut ? 'Sold out' : 'Add to cart'}
      </button>
    </li>
  );
}

function label(stock: StockView | undefined): string {
  if (stock === undefined) return 'Checking stock…';
  switch (stock.status) {
    case 'in_stock':
      return stock.available === undefined ? 'In stock' : `In stock (${stock.available})`;
    case 'low_stock':
      return stock.available === undefined ? 'Low stock' : `Only ${stock.available} left`;
    case 'sold_out':
      return 'Sold out';
    default:
      return 'Not available';
  }
}
