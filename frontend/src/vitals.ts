// Core Web Vitals (LCP, INP, CLS) and FCP and TTFB from Google's web-vitals library, as
// OpenTelemetry histograms by route template and rating. FID is gone: INP replaced it as a
// Core Web Vital in March 2024 and web-vitals v5 dropped onFID.
import type { Meter } from "@opentelemetry/api";
import { onCLS, onFCP, onINP, onLCP, onTTFB, type Metric } from "web-vitals";

/** The histogram of each vital: its name, unit and bucket bounds (around its good/poor thresholds). */
export const VITALS = {
  LCP: { name: "browser.web_vital.lcp", unit: "ms", bounds: [250, 500, 1000, 1500, 2000, 2500, 3000, 4000, 6000, 10000, 20000] },
  INP: { name: "browser.web_vital.inp", unit: "ms", bounds: [25, 50, 100, 150, 200, 300, 500, 800, 1000, 2000, 5000] },
  CLS: { name: "browser.web_vital.cls", unit: "1", bounds: [0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1] },
  FCP: { name: "browser.web_vital.fcp", unit: "ms", bounds: [250, 500, 1000, 1500, 1800, 2500, 3000, 4000, 6000, 10000] },
  TTFB: { name: "browser.web_vital.ttfb", unit: "ms", bounds: [50, 100, 200, 400, 800, 1200, 1800, 3000, 6000] },
} as const;

export type VitalName = keyof typeof VITALS;

/** A report as web-vitals gives it, narrowed to what is recorded. */
export type VitalReport = Pick<Metric, "name" | "value" | "rating" | "navigationType">;

export interface VitalRecorder {
  record(report: VitalReport): void;
}

/** Histograms on `meter`; `route()` is asked at each report (a single-page app changes route). */
export function vitalRecorder(meter: Meter, route: () => string): VitalRecorder {
  const histograms = Object.fromEntries(
    Object.entries(VITALS).map(([vital, spec]) => [
      vital,
      meter.createHistogram(spec.name, { unit: spec.unit, description: `Web Vital ${vital}`, advice: { explicitBucketBoundaries: [...spec.bounds] } }),
    ]),
  );
  return {
    record(report) {
      const histogram = histograms[report.name];
      if (!histogram || !Number.isFinite(report.value) || report.value < 0) return;
      histogram.record(report.value, {
        "http.route": route(),
        "web_vital.rating": report.rating,
        "web_vital.navigation_type": report.navigationType,
      });
    },
  };
}

/** Register the web-vitals callbacks; each vital reports when it is final (most on page hide). */
export function observeVitals(recorder: VitalRecorder): void {
  const record = (metric: Metric) => recorder.record(metric);
  onLCP(record);
  onINP(record);
  onCLS(record);
  onFCP(record);
  onTTFB(record);
}
