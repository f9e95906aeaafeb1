import http from 'node:http';
import type { ObservationLog } from './observation-log.ts';
import { HARNESS_KIND, SOURCE } from './topics.ts';

/** One request to a device's web server. */
export interface HttpRequestSpec {
  /** Default GET, or POST when there is a body. */
  method?: string;
  /** Path on the device, e.g. `/api/message`. */
  path: string;
  /** A string is sent as is; an object as JSON. */
  body?: string | Record<string, unknown>;
  /** Default `application/json` for an object body, `text/plain` for a string. */
  contentType?: string;
  /** Give up after this long (the device may be hung or off). Default 5000 ms. */
  timeoutMs?: number;
}

/** What came back. HTTP errors are results, not exceptions: a 503 from a full queue is data. */
export interface HttpResult {
  /** The id the harness gave the request (`X-Request-Id`); the device logs it as `req=`. */
  requestId: string;
  method: string;
  path: string;
  /** HTTP status, or 0 when there was no response (refused, reset, timed out). */
  status: number;
  body: string;
  /** Why there was no response. */
  error?: string;
  /** Host time from sending to the end of the response, ms. */
  ms: number;
  requestIndex: number;
  responseIndex: number;
}

export interface HttpActuatorOptions {
  /** Prefix of request ids. Default `h`. Ids are unique per actuator: `h1`, `h2`, … */
  idPrefix?: string;
  /** Called before every request; throwing refuses it (see ButtonPresser's guard). */
  guard?: (what: string) => void;
}

export interface HttpBurstOptions {
  /** Requests in flight at once. Default: all of them. */
  concurrency?: number;
  /** Delay between starting consecutive requests, ms. Default 0. */
  spacingMs?: number;
}

/**
 * HTTP requests to a device's web server as an actuator: every request gets an id the device
 * can log (`X-Request-Id`), and is recorded with its host time (`http.request`, then
 * `http.response` or `http.http_error`), like a button press. One connection per request, as a
 * browser hitting an ESP would (and as ESPAsyncWebServer closes them anyway).
 */
export class HttpActuator {
  private nextId = 1;
  private readonly prefix: string;
  private readonly guard: (what: string) => void;

  constructor(
    readonly device: string,
    readonly baseUrl: string,
    private readonly log: ObservationLog,
    options: HttpActuatorOptions = {},
  ) {
    this.prefix = options.idPrefix ?? 'h';
    this.guard = options.guard ?? (() => undefined);
  }

  request(spec: HttpRequestSpec): Promise<HttpResult> {
    const method = (spec.method ?? (spec.body !== undefined ? 'POST' : 'GET')).toUpperCase();
    this.guard(`${method} ${spec.path}`);
    const requestId = `${this.prefix}${this.nextId++}`;
    const body = spec.body === undefined ? undefined : typeof spec.body === 'string' ? spec.body : JSON.stringify(spec.body);
    const contentType = spec.contentType ?? (typeof spec.body === 'string' ? 'text/plain' : 'application/json');
    const headers: Record<string, string> = { 'X-Request-Id': requestId };
    if (body !== undefined) {
      headers['Content-Type'] = contentType;
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const url = new URL(spec.path, this.baseUrl);
    const timeoutMs = spec.timeoutMs ?? 5000;
    const requestIndex = this.log.record(SOURCE.http, HARNESS_KIND.request, { request_id: requestId, device: this.device, method, path: spec.path }).i;
    const t0 = process.hrtime.bigint();
    return new Promise<HttpResult>((resolve) => {
      let done = false;
      const finish = (status: number, text: string, error?: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        const responseIndex =
          error === undefined
            ? this.log.record(SOURCE.http, HARNESS_KIND.response, { request_id: requestId, device: this.device, status, ms: +ms.toFixed(2) }).i
            : this.log.record(SOURCE.http, HARNESS_KIND.httpError, { request_id: requestId, device: this.device, error, ms: +ms.toFixed(2) }).i;
        resolve({ requestId, method, path: spec.path, status, body: text, ...(error !== undefined ? { error } : {}), ms, requestIndex, responseIndex });
      };
      const req = http.request(url, { method, headers, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => finish(res.statusCode ?? 0, text));
        res.on('error', (e: NodeJS.ErrnoException) => finish(0, text, `response broken: ${e.code ?? e.message}`));
      });
      const timer = setTimeout(() => {
        req.destroy();
        finish(0, '', `no response within ${timeoutMs} ms`);
      }, timeoutMs);
      req.on('error', (e: NodeJS.ErrnoException) => finish(0, '', describeError(e, url)));
      req.end(body);
    });
  }

  /**
   * Many requests at once (or `concurrency` at a time, `spacingMs` apart). Resolves with every
   * result in the order given, whatever their status.
   */
  async burst(specs: readonly HttpRequestSpec[], options: HttpBurstOptions = {}): Promise<HttpResult[]> {
    const concurrency = Math.max(1, options.concurrency ?? specs.length);
    const results = new Array<HttpResult>(specs.length);
    this.log.record('http', 'burst', { device: this.device, requests: specs.length, concurrency });
    let next = 0;
    let lastStart = 0;
    const lane = async (): Promise<void> => {
      while (next < specs.length) {
        const i = next++;
        if (options.spacingMs) {
          const wait = lastStart + options.spacingMs - performance.now();
          lastStart = Math.max(performance.now(), lastStart + options.spacingMs);
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        results[i] = await this.request(specs[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, lane));
    return results;
  }
}

function describeError(e: NodeJS.ErrnoException, url: URL): string {
  switch (e.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${url.host} (device off, rebooting, or its server not started)`;
    case 'ECONNRESET':
      return `connection reset by ${url.host} (the device dropped it, or rebooted)`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${url.host} unreachable (network or device off)`;
    default:
      return e.code ? `${e.code}: ${e.message}` : e.message;
  }
}
