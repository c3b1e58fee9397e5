// Prometheus text-format metrics: counters, one histogram, and gauges read when scraped.

type Labels = Record<string, string>;

interface Family {
  help: string;
  type: "counter" | "gauge" | "histogram";
  values: Map<string, { labels: Labels; value: number; buckets?: number[]; sum?: number }>;
}

/** Latency buckets, in seconds. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A counter or histogram family: its name and help text, spread into the calls below. */
export type FamilyName = readonly [name: string, help: string];

export const HTTP_REQUESTS: FamilyName = [
  "hero_relay_http_requests_total",
  "HTTP requests by path and status",
];
export const VERIFICATION_FAILURES: FamilyName = [
  "hero_relay_verification_failures_total",
  "Requests that failed verification",
];
export const SOURCE_VERIFICATION_FAILURES: FamilyName = [
  "hero_relay_source_verification_failures_total",
  "Requests from a configured source that failed verification, by source and reason",
];
export const EVENTS_ACCEPTED: FamilyName = [
  "hero_relay_events_accepted_total",
  "Events accepted and stored",
];
export const EVENTS_DUPLICATE: FamilyName = [
  "hero_relay_events_duplicate_total",
  "Replayed bodies answered as duplicates",
];
export const EVENTS_UNROUTED: FamilyName = [
  "hero_relay_events_unrouted_total",
  "Events that matched no route",
];
export const DELIVERIES: FamilyName = [
  "hero_relay_deliveries_total",
  "Delivery attempts by destination and outcome",
];
export const ATTEMPT_DURATION: FamilyName = [
  "hero_relay_attempt_duration_seconds",
  "Duration of delivery attempts",
];
export const CONNECTIONS_EVICTED: FamilyName = [
  "hero_relay_connections_evicted_total",
  "Connections closed at the connection limit to admit a new one",
];
export const LISTENER_RESTARTS: FamilyName = [
  "hero_relay_listener_restarts_total",
  "Times the webhook listener stopped accepting connections and listened again",
];

export const ALERTS_SENT: FamilyName = [
  "hero_relay_alerts_sent_total",
  "Alerts an alert destination took, by kind",
];
export const ALERT_FAILURES: FamilyName = [
  "hero_relay_alert_failures_total",
  "Alerts an alert destination did not take after its tries",
];

/** A registry of metrics rendered in Prometheus' text format. */
export class Metrics {
  #families = new Map<string, Family>();
  #collectors: Array<() => Promise<void> | void> = [];

  #family(name: string, type: Family["type"], help: string): Family {
    let family = this.#families.get(name);
    if (family === undefined) {
      family = { help, type, values: new Map() };
      this.#families.set(name, family);
    }
    return family;
  }

  /** Adds `by` to a counter. */
  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    const family = this.#family(name, "counter", help);
    const key = labelKey(labels);
    const entry = family.values.get(key);
    if (entry) entry.value += by;
    else family.values.set(key, { labels, value: by });
  }

  /** Sets a gauge. */
  set(name: string, help: string, labels: Labels, value: number): void {
    this.#family(name, "gauge", help).values.set(labelKey(labels), { labels, value });
  }

  /** Clears a gauge's series, before a collector sets the current ones. */
  reset(name: string): void {
    this.#families.get(name)?.values.clear();
  }

  /** Records a duration in seconds in a histogram. */
  observe(name: string, help: string, labels: Labels, seconds: number): void {
    const family = this.#family(name, "histogram", help);
    const key = labelKey(labels);
    let entry = family.values.get(key);
    if (entry === undefined) {
      entry = { labels, value: 0, buckets: BUCKETS.map(() => 0), sum: 0 };
      family.values.set(key, entry);
    }
    entry.value += 1;
    entry.sum! += seconds;
    BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) entry.buckets![i]! += 1;
    });
  }

  /**
   * Makes a counter or histogram family exist, and each given series at zero, without changing
   * a series that has counted already: alerts on a family work before its first increment.
   */
  declare(
    name: string,
    help: string,
    type: "counter" | "histogram",
    series: Labels[] = [],
  ): void {
    const family = this.#family(name, type, help);
    for (const labels of series) {
      const key = labelKey(labels);
      if (family.values.has(key)) continue;
      family.values.set(
        key,
        type === "histogram" ? { labels, value: 0, buckets: BUCKETS.map(() => 0), sum: 0 } : {
          labels,
          value: 0,
        },
      );
    }
  }

  /** Registers a function that updates gauges before each scrape. */
  collect(collector: () => Promise<void> | void): void {
    this.#collectors.push(collector);
  }

  /** The current value of a counter or gauge series, for tests and `check`. */
  value(name: string, labels: Labels = {}): number {
    return this.#families.get(name)?.values.get(labelKey(labels))?.value ?? 0;
  }

  /** Renders every metric in Prometheus' text exposition format. */
  async render(): Promise<string> {
    for (const collector of this.#collectors) await collector();
    const lines: string[] = [];
    for (const [name, family] of [...this.#families].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`);
      for (const entry of family.values.values()) {
        if (family.type !== "histogram") {
          lines.push(`${name}${format(entry.labels)} ${entry.value}`);
          continue;
        }
        BUCKETS.forEach((bound, i) => {
          lines.push(
            `${name}_bucket${format({ ...entry.labels, le: String(bound) })} ${entry.buckets![i]}`,
          );
        });
        lines.push(`${name}_bucket${format({ ...entry.labels, le: "+Inf" })} ${entry.value}`);
        lines.push(`${name}_sum${format(entry.labels)} ${entry.sum}`);
        lines.push(`${name}_count${format(entry.labels)} ${entry.value}`);
      }
    }
    return lines.join("\n") + "\n";
  }
}

function labelKey(labels: Labels): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(",");
}

function format(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
  return `{${keys.map((k) => `${k}="${escape(labels[k]!)}"`).join(",")}}`;
}

/**
 * Event type as a metric label: unknown types collapse to "other" to bound cardinality, and a
 * source's events (whose topics the sender chooses) to `<source>.*`, one series per source.
 */
export function metricType(type: string): string {
  if (/^[a-z0-9_]{1,40}$/.test(type)) return type;
  const source = /^([a-z0-9_-]{1,64})\.(?:\*|[a-z0-9_]{1,64})$/.exec(type)?.[1];
  return source === undefined ? "other" : `${source}.*`;
}
