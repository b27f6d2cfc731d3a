// The fixture's trainer app: one React page, served by Django at /trainer/, that lists the
// signed-in user's bookings through the API and has a button that throws. It starts the
// browser telemetry exactly as a real app would: init() first, then Sentry, then render.
import { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";

import { init } from "../src/index.ts";
import { ErrorBoundary, initSentry } from "../src/sentry.ts";

interface PageConfig {
  serviceName: string;
  collectorUrl: string;
  apiOrigins: string[];
  route: string;
  environment?: string;
  sentryDsn?: string;
}

interface Booking {
  id: number;
  trainer: string;
  service: string;
  starts_at: string;
  status: string;
}

const config = JSON.parse(document.getElementById("trainerhub-config")?.textContent ?? "{}") as PageConfig;
const telemetry = init({
  serviceName: config.serviceName,
  collectorUrl: config.collectorUrl,
  apiOrigins: config.apiOrigins,
  route: config.route,
  environment: config.environment,
  keepQueryParams: ["page"],
  scheduledDelayMillis: 500,
});
if (config.sentryDsn) initSentry(telemetry, { dsn: config.sentryDsn, environment: config.environment, keepQueryParams: ["page"] });
(window as unknown as { trainerhubTelemetry: typeof telemetry }).trainerhubTelemetry = telemetry;

const TOKEN_KEY = "trainerhub.apiToken";

function Bookings({ token }: { token: string }) {
  const [state, setState] = useState<{ bookings?: Booking[]; error?: string; loads: number }>({ loads: 0 });
  const load = () => {
    fetch("/api/bookings/", { headers: { Authorization: `Bearer ${token}` } })
      .then(async (response) => {
        if (!response.ok) throw new Error(`the API answered ${response.status}`);
        const body = (await response.json()) as { results: Booking[] };
        setState((previous) => ({ bookings: body.results, loads: previous.loads + 1 }));
      })
      .catch((error: Error) => setState((previous) => ({ error: error.message, loads: previous.loads })));
  };
  useEffect(load, [token]);
  if (state.error) return <p role="alert">Could not load bookings: {state.error}</p>;
  if (!state.bookings) return <p>Loading bookings…</p>;
  return (
    <>
      <button id="refresh" onClick={load}>Refresh</button>
      <ul id="bookings" data-count={state.bookings.length} data-loads={state.loads}>
        {state.bookings.map((b) => (
          <li key={b.id}>{b.service} with {b.trainer}, {new Date(b.starts_at).toLocaleString()} ({b.status})</li>
        ))}
      </ul>
    </>
  );
}

function SignIn({ onToken }: { onToken: (token: string) => void }) {
  const [value, setValue] = useState("");
  return (
    <form onSubmit={(event) => { event.preventDefault(); sessionStorage.setItem(TOKEN_KEY, value); onToken(value); }}>
      <label>API token <input id="token" type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} /></label>
      <button type="submit">Sign in</button>
    </form>
  );
}

function App() {
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY) ?? "");
  return (
    <main>
      <h1>My bookings</h1>
      {token ? <Bookings token={token} /> : <SignIn onToken={setToken} />}
      <button
        id="throw"
        onClick={() => {
          // What a careless error message carries: the redaction must catch both.
          throw new Error("Trainer app test error for ana.trainer@example.com, card 4111 1111 1111 1111");
        }}
      >
        Throw a test error
      </button>
    </main>
  );
}

createRoot(document.getElementById("root")!).render(
  <ErrorBoundary fallback={<p role="alert">Something went wrong.</p>}>
    <App />
  </ErrorBoundary>,
);
