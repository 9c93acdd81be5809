// Every task in deno.json answers --help with a usage line and exit status 0, without touching the
// GPU or any data (each entry parses its flags before doing work).

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT))) as {
  tasks: Record<string, string>;
};

/** The script a task runs (`... deno run -A <file>`), or null for tasks that run no script. */
function entryOf(command: string): string | null {
  return command.match(/deno run -A (\S+\.ts)/)?.[1] ?? null;
}

Deno.test("cli: every task with an entry script prints Usage: on --help and exits 0", async (t) => {
  const entries = Object.entries(config.tasks).flatMap(([name, command]) => {
    const file = entryOf(command);
    return file ? [[name, file] as const] : [];
  });
  const names = entries.map(([name]) => name);
  for (const name of ["train", "sample", "serve", "parity", "bench:engine"]) {
    assert.ok(names.includes(name), `no entry script found for task ${name}`);
  }
  await Promise.all(entries.map(([name, file]) =>
    t.step({
      name: `deno task ${name} --help`,
      sanitizeOps: false,
      sanitizeResources: false,
      sanitizeExit: false,
      fn: async () => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", file, "--help"],
          cwd: ROOT,
          env: { XDG_RUNTIME_DIR: "/tmp" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stdout = new TextDecoder().decode(out.stdout);
        const stderr = new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 0, `${name} --help exited ${out.code}: ${stderr}`);
        assert.match(stdout, new RegExp(`^Usage: deno task ${name}\\b`, "m"));
      },
    })
  ));
});
