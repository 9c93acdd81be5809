/**
 * Tests of the Push-T environment on MuJoCo against independent references: numpy and gym-pusht
 * 0.1.5 values in tests/fixtures/pusht_reference.json (written by pusht_reference.py beside it),
 * hand-computed areas, and a hand-integrated PD law.
 */
import assert from "node:assert/strict";
import { MAX_STEPS, PushTEnv, type PushTStep } from "../src/robot/pusht/env.ts";
import {
  coverage,
  GOAL_POSE,
  overlapArea,
  ringArea,
  T_AREA,
  T_OUTLINE,
  tPolygon,
} from "../src/robot/pusht/geometry.ts";
import { KP, KV, PHYSICS_DT, SUBSTEPS } from "../src/robot/pusht/model.ts";
import { NumpyRandomState } from "../src/robot/pusht/numpy_random.ts";

interface Reference {
  raw: Record<
    string,
    { uint32: number[]; randn: number[]; random_sample: number[]; randint_7_1000: number[] }
  >;
  resets: { seed: number; draws: number[]; obs: number[] }[];
  trajectory: { seed: number; actions: number[][]; obs_coverage: number[][] };
}

const ref: Reference = JSON.parse(
  Deno.readTextFileSync(new URL("./fixtures/pusht_reference.json", import.meta.url)),
);

function close(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tolerance ${tol})`);
}

/** Angle difference wrapped to (-pi, pi]. */
function angleDiff(a: number, b: number): number {
  const d = (a - b) % (2 * Math.PI);
  return d > Math.PI ? d - 2 * Math.PI : d <= -Math.PI ? d + 2 * Math.PI : d;
}

Deno.test("NumpyRandomState matches numpy's RandomState", async (t) => {
  for (const [seed, want] of Object.entries(ref.raw)) {
    await t.step(`seed ${seed}: raw outputs, randn, random_sample, randint`, () => {
      const rs = new NumpyRandomState(Number(seed));
      // numpy's randint(0, 2**32, dtype=uint64) is one raw 32-bit output per draw
      for (const u of want.uint32) assert.equal(rs.nextUint32(), u);
      for (const g of want.randn) close(rs.randn(), g, 1e-14, "randn");
      for (const u of want.random_sample) assert.equal(rs.randomSample(), u);
      for (const v of want.randint_7_1000) assert.equal(rs.randint(7, 1000), v);
    });
  }
  await t.step("Push-T reset draws", () => {
    for (const r of ref.resets) {
      const rs = new NumpyRandomState(r.seed);
      const got = [
        rs.randint(50, 450),
        rs.randint(50, 450),
        rs.randint(100, 400),
        rs.randint(100, 400),
        rs.randn(),
      ];
      assert.deepEqual(got.slice(0, 4), r.draws.slice(0, 4), `seed ${r.seed}`);
      close(got[4], r.draws[4], 1e-14, `seed ${r.seed} randn`);
    }
  });
  await t.step("rejects seeds numpy rejects", () => {
    assert.throws(() => new NumpyRandomState(-1), /seed/);
    assert.throws(() => new NumpyRandomState(2 ** 32), /seed/);
    assert.throws(() => new NumpyRandomState(1.5), /seed/);
  });
});

Deno.test("Push-T geometry", async (t) => {
  await t.step("the T's area is 120 * 30 + 30 * 90 = 6300", () => {
    assert.equal(T_AREA, 6300);
    assert.equal(ringArea(T_OUTLINE), 6300);
    close(ringArea(tPolygon({ x: 100, y: 300, angle: 1.234 })[0]), 6300, 1e-9, "rotated");
  });
  await t.step("coverage is 1 at the goal pose and 0 far away", () => {
    close(coverage(GOAL_POSE), 1, 1e-9, "at goal");
    close(coverage({ ...GOAL_POSE, angle: GOAL_POSE.angle + 2 * Math.PI }), 1, 1e-9, "+2pi");
    assert.equal(coverage({ x: 60, y: 60, angle: 0 }), 0);
    assert.ok(coverage({ ...GOAL_POSE, angle: GOAL_POSE.angle + Math.PI }) < 0.5);
  });
  await t.step("a shift along the bar leaves the hand-computed overlap", () => {
    // unrotated T shifted by 10 along x: bar 110 * 30 overlap, stem 20 * 90
    close(overlapArea({ x: 200, y: 200, angle: 0 }, { x: 210, y: 200, angle: 0 }), 5100, 1e-6, "");
    // shifted by 40 along y: bar has no overlap with the bar, the stem overlaps the stem by 50 and
    // the moved bar (y in [40, 70]) covers the stem's x in [-15, 15] for 30 rows
    close(
      overlapArea({ x: 0, y: 0, angle: 0 }, { x: 0, y: 40, angle: 0 }),
      30 * 50 + 30 * 30,
      1e-6,
      "",
    );
  });
});

Deno.test("PushTEnv", async (t) => {
  const env = await PushTEnv.create();
  try {
    await t.step("reset(seed) gives gym-pusht 0.1.5's initial observation", () => {
      for (const r of ref.resets) {
        const obs = env.reset(r.seed);
        assert.equal(obs.length, 5);
        // Float32 observation of values up to 512: 1e-4 covers its rounding
        for (let i = 0; i < 5; i++) close(obs[i], r.obs[i], 1e-4, `seed ${r.seed} obs[${i}]`);
      }
    });

    await t.step("the pusher follows the PD law (hand-integrated reference)", () => {
      // block out of reach so that no contact disturbs the pusher
      env.resetTo([100, 400, 400, 60, 0]);
      let [px, py] = [100, 400], [vx, vy] = [0, 0];
      const targets = [[300, 200], [300, 200], [50, 480], [600, -20], [256, 256]];
      for (const target of targets) {
        env.step(target);
        const tx = Math.min(512, Math.max(0, target[0])),
          ty = Math.min(512, Math.max(0, target[1]));
        for (let i = 0; i < SUBSTEPS; i++) {
          vx += (KP * (tx - px) + KV * (0 - vx)) * PHYSICS_DT;
          vy += (KP * (ty - py) + KV * (0 - vy)) * PHYSICS_DT;
          px += vx * PHYSICS_DT;
          py += vy * PHYSICS_DT;
        }
        const [gx, gy] = env.pusher(), [gvx, gvy] = env.pusherVelocity();
        close(gx, px, 1e-9, "x");
        close(gy, py, 1e-9, "y");
        close(gvx, vx, 1e-9, "vx");
        close(gvy, vy, 1e-9, "vy");
      }
      const b = env.blockPose();
      assert.deepEqual([b.x, b.y, b.angle], [400, 60, 0], "the untouched block stays put");
    });

    await t.step(
      "a push moves the block as gym-pusht's does, and it stops when contact ends",
      () => {
        const tr = ref.trajectory;
        env.reset(tr.seed);
        let maxPos = 0, maxAngle = 0;
        const poses: number[][] = [];
        tr.actions.forEach((a, i) => {
          const s = env.step(a);
          const want = tr.obs_coverage[i];
          maxPos = Math.max(maxPos, Math.hypot(s.obs[2] - want[2], s.obs[3] - want[3]));
          maxAngle = Math.max(maxAngle, Math.abs(angleDiff(s.obs[4], want[4])));
          close(s.obs[0], want[0], 1e-3, `step ${i} agent x`);
          close(s.obs[1], want[1], 1e-3, `step ${i} agent y`);
          close(s.coverage, want[5], 0.005, `step ${i} coverage`);
          const b = env.blockPose();
          poses.push([b.x, b.y, b.angle]);
        });
        const first = tr.obs_coverage[0], last = tr.obs_coverage.at(-1)!;
        assert.ok(Math.hypot(last[2] - first[2], last[3] - first[3]) > 10, "the fixture pushes");
        // soft MuJoCo contacts against pymunk's impulses (measured 0.063 px, 0.0010 rad)
        assert.ok(maxPos < 0.25, `block position differs from gym-pusht's by up to ${maxPos}`);
        assert.ok(maxAngle < 0.005, `block angle differs from gym-pusht's by up to ${maxAngle}`);
        // the last 10 actions lead the pusher away: after contact ends the block does not move
        const [px, py] = env.pusher();
        assert.ok(py < 200, `pusher left (y=${py})`);
        for (let i = tr.actions.length - 8; i < tr.actions.length; i++) {
          assert.deepEqual(poses[i], poses.at(-1), `block still at step ${i}`);
        }
        assert.ok(px > 0);
      },
    );

    await t.step("same seed and actions give the same trajectory; setState replays it", () => {
      const run = (seed: number): PushTStep[] => {
        env.reset(seed);
        const out: PushTStep[] = [];
        for (let i = 0; i < 40; i++) {
          out.push(env.step([256 + 150 * Math.sin(i / 4), 256 + 150 * Math.cos(i / 5)]));
        }
        return out;
      };
      const a = run(3), b = run(3);
      assert.deepEqual(a, b);
      assert.notDeepEqual(run(4).map((s) => s.obs), a.map((s) => s.obs));
      // snapshot in the middle of a contact-rich run, continue, restore, continue again
      env.reset(3);
      for (let i = 0; i < 20; i++) {
        env.step([256 + 150 * Math.sin(i / 4), 256 + 150 * Math.cos(i / 5)]);
      }
      const snap = env.getState();
      const cont = () => {
        const out: PushTStep[] = [];
        for (let i = 20; i < 40; i++) {
          out.push(env.step([256 + 150 * Math.sin(i / 4), 256 + 150 * Math.cos(i / 5)]));
        }
        return out;
      };
      const first = cont();
      env.step([0, 0]);
      env.setState(snap);
      assert.equal(env.steps, 20);
      assert.deepEqual(cont(), first);
      assert.deepEqual(first, a.slice(20));
    });

    await t.step("reward, success and done at the goal; episodes end after 300 steps", () => {
      env.resetTo([40, 40, GOAL_POSE.x, GOAL_POSE.y, GOAL_POSE.angle]);
      const s = env.step([40, 40]);
      close(s.coverage, 1, 1e-9, "coverage");
      assert.equal(s.reward, 1);
      assert.equal(s.success, true);
      assert.equal(s.done, true);
      env.resetTo([40, 40, 400, 100, 0]);
      let last!: PushTStep;
      for (let i = 0; i < MAX_STEPS; i++) last = env.step([40, 40]);
      assert.equal(last.done, true);
      assert.equal(last.success, false);
      assert.equal(last.reward, 0);
      assert.throws(() => env.step([40, 40]), /episode is over/);
    });

    await t.step("observation angle is wrapped to [0, 2 pi); bad input is refused", () => {
      const obs = env.resetTo([40, 40, 300, 300, -1]);
      close(obs[4], 2 * Math.PI - 1, 1e-6, "wrapped angle");
      assert.throws(() => env.step([1]), /action \[x, y\]/);
      assert.throws(() => env.step([NaN, 3]), /finite/);
      assert.throws(() => env.resetTo([1, 2, 3]), /5 finite numbers/);
      assert.throws(() => env.simulate([1, Infinity]), /simulate expects/);
      assert.throws(
        () => env.setState({ ...env.getState(), qpos: new Float64Array(2) }),
        /lengths/,
      );
    });
  } finally {
    env.close();
  }
  assert.throws(() => env.reset(0), /closed/);
});

Deno.test("PushTEnv friction option: a pusher sliding along the bar drags the block only with friction", async () => {
  const slide = async (friction: number) => {
    const env = await PushTEnv.create({ friction });
    try {
      // the pusher grazes the bar's top edge (1 px deep) and slides 80 px along +x
      env.resetTo([200, 287, 256, 300, 0]);
      for (let i = 0; i < 8; i++) env.step([200 + 10 * (i + 1), 289]);
      return env.blockPose().x - 256;
    } finally {
      env.close();
    }
  };
  const [dx0, dx1] = [await slide(0), await slide(1)];
  assert.ok(dx0 < 0.5, `frictionless contact gives no drag along +x (moved ${dx0})`);
  assert.ok(dx1 - dx0 > 3, `friction 1 drags the block along (moved ${dx1} against ${dx0})`);
  await assert.rejects(() => PushTEnv.create({ friction: -1 }), /friction must be >= 0/);
});
