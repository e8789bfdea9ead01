// Stops the console (SIGTERM: it stops its PostgreSQL in order) and the
// Linode double, and removes the data directory and the double's token.
import * as fs from 'node:fs';

export default async function globalTeardown() {
  const pid = Number(process.env.CONSOLE_PID);
  if (pid) {
    try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    for (let i = 0; i < 200; i++) {
      try { process.kill(pid, 0); } catch { break; }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const linode = Number(process.env.LINODE_DOUBLE_PID);
  if (linode) {
    try { process.kill(linode, 'SIGTERM'); } catch { /* already gone */ }
  }
  if (process.env.LINODE_TOKEN_FILE) fs.rmSync(process.env.LINODE_TOKEN_FILE, { force: true });
  if (process.env.CONSOLE_DATA_DIR) fs.rmSync(process.env.CONSOLE_DATA_DIR, { recursive: true, force: true });
}
