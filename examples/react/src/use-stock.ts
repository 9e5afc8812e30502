import { createContext, createElement, useCallback, useContext, useEffect, useState, useSyncExternalStore, type ReactNode } from 'react';
import type { ConnectionState, StockClient, StockView } from 'stockwire';

/**
 * React bindings for the framework-free Stockwire client, in ~40 lines: one client for the whole
 * app (one socket for every product), handed down by context; `useStock(sku)` re-renders a component
 * whenever that product's public stock changes.
 */
const StockClientContext = createContext<StockClient | null>(null);

export function StockProvider({ client, children }: { client: StockClient; children?: ReactNode }) {
  return createElement(StockClientContext.Provider, { value: client }, children);
}

function useClient(): StockClient {
  const client = useContext(StockClientContext);
  if (client === null) throw new Error('useStock needs a <StockProvider client={createStockClient(…)}> above it');
  return client;
}

/** The live public view of one SKU; `undefined` until the first snapshot arrives. */
export function useStock(sku: string): StockView | undefined {
  const client = useClient();
  // Stable per (client, sku), so React subscribes once rather than on every render.
  const subscribe = useCallback((onChange: () => void) => client.subscribe(sku, onChange), [client, sku]);
  return useSyncExternalStore(subscribe, () => client.get(sku));
}

/** `connecting` | `open` | `reconnecting` | `polling` | `closed`, for a small "live" indicator. */
export function useConnectionState(): ConnectionState {
  const client = useClient();
  const [state, setState] = useState<ConnectionState>(client.state);
  useEffect(() => {
    setState(client.state);
    return client.on('state', ({ newState }) => setState(newState));
  }, [client]);
  return state;
}
