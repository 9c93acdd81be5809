/**
 * A scripted openpi policy server for evaluation tests: it speaks the wire protocol (metadata
 * frame, numpy-over-msgpack observations, `__ctrl__` messages) and answers chunk c (counted over
 * the connection's life) with entry i = [10 + c, 100 + 10 i], after a scripted delay, so the
 * actions a robot executes name the chunk and entry they came from.
 *
 * @module
 */

import { decodeFrame, encodeFrame } from "../src/server/codec.ts";
import { ndarray, readFloatArray } from "../src/server/openpi_codec.ts";

/** What the fake server saw, in order. */
export type FakeEvent =
  | { kind: "ctrl"; ctrl: string }
  | { kind: "obs"; chunk: number; window: Float32Array; shape: number[] };

/** A running fake server. */
export interface FakeOpenpi {
  /** `ws://127.0.0.1:PORT`. */
  url: string;
  /** Frames received. */
  events: FakeEvent[];
  /** Stops it. */
  close(): Promise<void>;
}

/** The action chunk `c` answers with: `[horizon, 2]`, entry i = [10 + c, 100 + 10 i]. */
export function encodedChunk(c: number, horizon: number): Float32Array {
  const out = new Float32Array(horizon * 2);
  for (let i = 0; i < horizon; i++) out.set([10 + c, 100 + 10 * i], 2 * i);
  return out;
}

/** Chunk and entry of an executed action made by {@linkcode encodedChunk}. */
export function decodeAction(x: number, y: number): { chunk: number; entry: number } {
  return { chunk: x - 10, entry: (y - 100) / 10 };
}

/** Starts the fake server on a free loopback port. */
export function startFakeOpenpi(options: {
  nObsSteps: number;
  nActionSteps: number;
  horizon: number;
  /** Delay before answering chunk c, ms (default 0). */
  delayMs?: (c: number) => number;
}): FakeOpenpi {
  const { nObsSteps, nActionSteps, horizon } = options;
  const events: FakeEvent[] = [];
  const sockets = new Set<WebSocket>();
  let chunks = 0;
  const metadata = {
    server: { name: "fake", version: "0", protocol: "openpi" },
    observation: { "observation.state": { shape: [5], history_shape: [nObsSteps, 5] } },
    action: { key: "action", shape: [horizon, 2] },
    n_obs_steps: nObsSteps,
    horizon,
    n_action_steps: nActionSteps,
    first_action_index: nObsSteps - 1,
    fps: 10,
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    sockets.add(socket);
    socket.onclose = () => sockets.delete(socket);
    socket.onopen = () => socket.send(encodeFrame(metadata));
    socket.onmessage = (event) => {
      const frame = decodeFrame(new Uint8Array(event.data as ArrayBuffer)) as Record<
        string,
        unknown
      >;
      if ("__ctrl__" in frame) {
        events.push({ kind: "ctrl", ctrl: String(frame.__ctrl__) });
        socket.send(encodeFrame({ __ctrl__: frame.__ctrl__, ok: true }));
        return;
      }
      const t = readFloatArray(frame["observation.state"], "observation.state");
      const c = chunks++;
      events.push({ kind: "obs", chunk: c, window: t.data.slice(), shape: t.shape });
      const answer = encodeFrame({
        actions: ndarray(encodedChunk(c, horizon), [horizon, 2]),
        server_timing: { infer_ms: 0 },
      });
      const delay = options.delayMs?.(c) ?? 0;
      if (delay > 0) setTimeout(() => socket.send(answer), delay);
      else socket.send(answer);
    };
    return response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}`,
    events,
    async close() {
      for (const s of sockets) s.close();
      await server.shutdown();
    },
  };
}
