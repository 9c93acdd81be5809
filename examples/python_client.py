#!/usr/bin/env python3
"""Python client of the DiT denoising server (protocol v1).

Needs only the `websockets` and `msgpack` packages (numpy is optional: with it, `--noise` sends
x_T as a numpy array in the msgpack-numpy convention the server also accepts).

    python3 examples/python_client.py --url ws://127.0.0.1:8000/v1/ws --steps 50 --class 3 --n 2
    python3 examples/python_client.py --concurrent 8 --steps 10      # pipelined, batched
    DIT_SERVE_TOKEN=secret python3 examples/python_client.py --png out/

Protocol: binary msgpack frames. The server greets with {"type": "hello", ...}; a request is
{"type": "sample", "id", "n", "steps", "sampler", "seed"?, "class"?, "cond"?, "noise"?, "return"?,
"previews"?}; answers are "result", "preview" or "error" frames. Tensors travel as
{"dtype": "float32", "shape": [...], "data": <little-endian bytes>}.
"""

import argparse
import array
import asyncio
import math
import os
import sys
import time

import msgpack
import websockets

try:  # websockets >= 14: the new asyncio implementation
    from websockets.asyncio.client import connect as _connect

    HEADERS_ARG = "additional_headers"
except ImportError:  # websockets 10-13
    _connect = websockets.connect
    HEADERS_ARG = "extra_headers"


def floats(tensor):
    """Decodes a protocol tensor into (shape, array('f'))."""
    if tensor.get("dtype") != "float32":
        raise ValueError("unexpected dtype %r" % tensor.get("dtype"))
    values = array.array("f")
    values.frombytes(tensor["data"])
    if sys.byteorder != "little":
        values.byteswap()
    return list(tensor["shape"]), values


def tensor(values, shape):
    """Encodes a flat list of floats as a protocol tensor."""
    data = array.array("f", values)
    if sys.byteorder != "little":
        data.byteswap()
    return {"dtype": "float32", "shape": list(shape), "data": data.tobytes()}


def numpy_noise(shape, seed):
    """x_T as a numpy array in the msgpack-numpy convention (keys nd/type/kind/shape/data)."""
    import numpy as np  # optional dependency

    x = np.random.default_rng(seed).standard_normal(shape).astype("<f4")
    return {b"nd": True, b"type": x.dtype.str, b"kind": b"", b"shape": x.shape, b"data": x.tobytes()}


class Client:
    """A connection with pipelined requests: results are matched to requests by id."""

    def __init__(self, ws, hello):
        self.ws = ws
        self.hello = hello
        self.pending = {}
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, url, token=None):
        headers = {"Authorization": "Bearer " + token} if token else {}
        kwargs = {HEADERS_ARG: headers, "max_size": None, "compression": None}
        ws = await _connect(url, **kwargs)
        hello = msgpack.unpackb(await ws.recv(), raw=False)
        if hello.get("type") != "hello":
            raise RuntimeError("expected a hello frame, got %r" % hello.get("type"))
        return cls(ws, hello)

    async def _read(self):
        try:
            async for frame in self.ws:
                if isinstance(frame, str):
                    continue  # the server only sends binary frames
                message = msgpack.unpackb(frame, raw=False)
                entry = self.pending.get(message.get("id"))
                if entry is None:
                    if message.get("type") == "error":
                        print("server error:", message["code"], message["message"], file=sys.stderr)
                    continue
                future, on_preview = entry
                if message["type"] == "preview":
                    if on_preview:
                        on_preview(message["step"], *floats(message["x0"]))
                    continue
                del self.pending[message["id"]]
                if message["type"] == "error":
                    future.set_exception(RuntimeError("%s: %s" % (message["code"], message["message"])))
                else:
                    future.set_result(message)
        finally:
            for future, _ in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))

    async def sample(self, request_id, on_preview=None, timeout=60.0, **fields):
        """Sends a sample request and waits for its result frame."""
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = (future, on_preview)
        frame = {"type": "sample", "id": request_id, **fields}
        if on_preview:
            frame["previews"] = True
        await self.ws.send(msgpack.packb(frame, use_bin_type=True))
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            self.pending.pop(request_id, None)
            await self.ws.send(msgpack.packb({"type": "cancel", "id": request_id}))
            raise

    async def close(self):
        await self.ws.close()
        await self.reader


def describe(result):
    shape, x0 = floats(result["x0"]) if "x0" in result else (None, [])
    mean = sum(x0) / max(1, len(x0))
    std = math.sqrt(sum((v - mean) ** 2 for v in x0) / max(1, len(x0)))
    t = result["timing"]
    return "%s: seed %d, shape %s, mean %.3f, std %.3f | queue %.1f ms, compute %.1f ms, total %.1f ms, batch %s" % (
        result["id"], result["seed"], shape, mean, std, t["queueMs"], t["computeMs"], t["totalMs"],
        t.get("batchSamples"))


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:8000/v1/ws")
    parser.add_argument("--token", default=os.environ.get("DIT_SERVE_TOKEN"))
    parser.add_argument("--n", type=int, default=1)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--sampler", default="ddim")
    parser.add_argument("--class", dest="cls", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--concurrent", type=int, default=1, help="pipelined requests (they batch)")
    parser.add_argument("--previews", action="store_true")
    parser.add_argument("--noise", action="store_true", help="send x_T as a numpy array (needs numpy)")
    parser.add_argument("--png", metavar="DIR", help="also ask for PNGs and write them to DIR")
    args = parser.parse_args()

    client = await Client.connect(args.url, args.token)
    model = client.hello["model"]
    print("server %s %s, model %s: %s %s, condition %s, samplers %s" % (
        client.hello["server"]["name"], client.hello["server"]["version"], model["name"],
        model["input"]["kind"], model["input"]["shape"], model["condition"], client.hello["samplers"]))
    try:
        fields = {"n": args.n, "steps": args.steps, "sampler": args.sampler}
        condition = model["condition"]
        if condition["kind"] == "class":
            fields["class"] = args.cls if args.cls is not None else 0
        elif condition["kind"] == "vector":
            fields["cond"] = tensor([0.0] * condition["dim"], [condition["dim"]])
        if args.png:
            fields["return"] = ["x0", "png"]
        on_preview = (lambda step, shape, x0: print("  preview step %d" % step)) if args.previews else None
        started = time.perf_counter()
        jobs = []
        for k in range(args.concurrent):
            extra = dict(fields)
            if args.seed is not None:
                extra["seed"] = args.seed + k
            if args.noise:
                extra["noise"] = numpy_noise([args.n] + model["input"]["shape"], k)
            jobs.append(client.sample("py%d" % k, on_preview=on_preview, **extra))
        results = await asyncio.gather(*jobs)
        elapsed = time.perf_counter() - started
        for result in results:
            print(describe(result))
            for i, png in enumerate(result.get("png", [])):
                os.makedirs(args.png, exist_ok=True)
                path = os.path.join(args.png, "%s_%d.png" % (result["id"], i))
                with open(path, "wb") as f:
                    f.write(png)
                print("  wrote", path)
        print("%d request(s) in %.1f ms" % (len(results), elapsed * 1000))
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
