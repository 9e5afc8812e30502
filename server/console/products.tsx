import { useEffect, useState } from 'preact/hooks';
import { Panel } from './parts.js';
import type { Texts } from './texts.js';

interface FullStock {
  readonly sku: string;
  readonly onHand: number;
  readonly reserved: number;
  readonly available: number;
  readonly status: 'in_stock' | 'low_stock' | 'sold_out';
  readonly version: number;
}

interface Product {
  readonly sku: string;
  readonly name: string | null;
  readonly stock: FullStock;
}

/**
 * The merchant's products with live stock, from its own stream (`/v1/console/events`, the session
 * cookie): never a shopper's socket, so the console is not counted as a viewer. Viewer counts are
 * shown for products whose counts the stream sends.
 */
export function Products(props: { t: Texts; onEnded: () => void }) {
  const { t } = props;
  const [products, setProducts] = useState<readonly Product[] | undefined>(undefined);
  const [viewers, setViewers] = useState<Readonly<Record<string, number>>>({});
  const [live, setLive] = useState(false);

  useEffect(() => {
    const source = new EventSource('/v1/console/events');
    source.addEventListener('open', () => setLive(true));
    source.addEventListener('snapshot', (event) => {
      setProducts((JSON.parse((event as MessageEvent<string>).data) as { products: Product[] }).products);
    });
    source.addEventListener('stock', (event) => {
      const stock = JSON.parse((event as MessageEvent<string>).data) as FullStock;
      setProducts((list) => list?.map((p) => (p.sku === stock.sku && stock.version > p.stock.version ? { ...p, stock } : p)));
    });
    source.addEventListener('viewers', (event) => {
      const { sku, count } = JSON.parse((event as MessageEvent<string>).data) as { sku: string; count: number };
      setViewers((counts) => ({ ...counts, [sku]: count }));
    });
    source.addEventListener('ended', () => {
      source.close();
      props.onEnded();
    });
    source.addEventListener('error', () => {
      setLive(false);
      // Closed for good (refused, e.g. 401): the session may be over.
      if (source.readyState === EventSource.CLOSED) props.onEnded();
    });
    return () => source.close();
  }, []);

  const showViewers = Object.keys(viewers).length > 0;
  return (
    <Panel title={t.products} help={t.productsHelp} wide id="products">
      <p class={live ? 'badge live' : 'badge'} aria-live="polite">{live ? t.live : t.connecting}</p>
      {products === undefined ? null : products.length === 0 ? (
        <p class="muted">{t.noProducts}</p>
      ) : (
        <div class="table-wrap">
          <table class="products">
            <thead>
              <tr>
                <th scope="col">{t.sku}</th>
                <th scope="col">{t.name}</th>
                <th scope="col">{t.status}</th>
                <th scope="col" class="num">{t.available}</th>
                <th scope="col" class="num">{t.onHand}</th>
                <th scope="col" class="num">{t.reserved}</th>
                {showViewers ? <th scope="col" class="num">{t.viewers}</th> : null}
              </tr>
            </thead>
            <tbody>
              {products.map((p) => (
                <tr key={p.sku} data-sku={p.sku}>
                  <td><code>{p.sku}</code></td>
                  <td>{p.name ?? ''}</td>
                  <td><span class={`status ${p.stock.status}`}>{t[p.stock.status]}</span></td>
                  <td class="num" data-field="available">{p.stock.available}</td>
                  <td class="num">{p.stock.onHand}</td>
                  <td class="num">{p.stock.reserved}</td>
                  {showViewers ? <td class="num" data-field="viewers">{viewers[p.sku] ?? ''}</td> : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}
