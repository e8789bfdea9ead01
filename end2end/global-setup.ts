// Starts the console (release build) with no DATABASE_URL, so it runs its own
// private PostgreSQL in a temporary data directory, and with its simulated
// Linode (no token stored: the local double of the API, as in the demo) and,
// for the token an admin enters, the demo account's double on its own port
// as the configured API; reads the one-time setup link from its log.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

export default async function globalSetup() {
  const root = path.resolve(__dirname, '..');
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
  const binary = path.join(targetDir, 'release', 'ocpizza-console');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocpizza-e2e-'));
  const port = await freePort();
  const env = { ...process.env, LEPTOS_SITE_ROOT: path.join(root, 'target', 'site'), RUST_LOG: 'info' };
  delete env.DATABASE_URL;
  // The API a real token is entered for: the demo account's double, alone
  // on its own port; the token it accepts is in a file, never printed.
  const linodePort = await freePort();
  const tokenFile = path.join(dataDir, '..', `${path.basename(dataDir)}-linode-token`);
  const linode = spawn(binary, ['linode-double', '--listen', `127.0.0.1:${linodePort}`, '--token-file', tokenFile], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; !fs.existsSync(tokenFile) || !(await listening(linodePort)); i++) {
    if (i > 100) throw new Error('the Linode double did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  process.env.LINODE_DOUBLE_PID = String(linode.pid);
  process.env.LINODE_TOKEN_FILE = tokenFile;
  const child = spawn(binary, [
    '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--linode-simulated', '--linode-poll-ms', '500',
    '--linode-api-url', `http://127.0.0.1:${linodePort}/v4/`,
  ], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const log = fs.createWriteStream(path.join(__dirname, 'test-results-console.log'));
  const setupLink = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    let link = '';
    const timer = setTimeout(() => reject(new Error(`the console did not start:\n${buffer}`)), 90_000);
    child.stderr.on('data', (chunk: Buffer) => {
      log.write(chunk);
      buffer += chunk.toString();
      const found = buffer.match(/(http:\/\/\S+\/setup\?token=[0-9a-f]+)/);
      if (found) link = found[1];
      if (link && buffer.includes('listening on')) {
        clearTimeout(timer);
        resolve(link);
      }
    });
    child.on('exit', (code) => reject(new Error(`the console exited (${code}):\n${buffer}`)));
  });
  child.stderr.on('data', (chunk: Buffer) => log.write(chunk));
  process.env.CONSOLE_URL = `http://127.0.0.1:${port}`;
  process.env.CONSOLE_SETUP_LINK = setupLink;
  process.env.CONSOLE_PID = String(child.pid);
  process.env.CONSOLE_DATA_DIR = dataDir;
}
