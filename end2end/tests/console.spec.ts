// The foundation, as staff live it: first start, setup link, the first
// admin, an operator, roles, sign-out, the audit log, its filter and export,
// sign-in without JavaScript, the language switch.
import { test, expect, Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';

const ADMIN = 'admin.marie';
const ADMIN_PASSWORD = 'une pizza au feu de bois';
const OPERATOR = 'paul.operateur';
const OPERATOR_PASSWORD = 'calzone sans champignons';

async function hydrated(page: Page) {
  await page.locator('body[data-hydrated="true"]').waitFor();
}

async function signIn(page: Page, username: string, password: string) {
  await page.goto('/sign-in');
  await page.getByLabel('Identifiant').fill(username);
  await page.getByLabel('Mot de passe').fill(password);
  await page.getByRole('button', { name: 'Se connecter' }).click();
}

/// The bytes of a second factor's secret, as the page shows it (base32).
function base32(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const bytes: number[] = [];
  for (const c of text.replace(/\s/g, '')) {
    value = ((value << 5) | alphabet.indexOf(c)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

/// The code an authenticator app shows for `secret` at time step `step`
/// (RFC 6238: HMAC-SHA1, 30 s, 6 digits).
function totp(secret: Buffer, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const digest = crypto.createHmac('sha1', secret).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  return ((digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).toString().padStart(6, '0');
}

const currentStep = () => Math.floor(Date.now() / 30_000);

test.describe.configure({ mode: 'serial' });

test('first start to audit export: setup, admin, operator, roles, audit', async ({ page }) => {
  // The one-time setup link printed in the log creates the first admin.
  await page.goto(process.env.CONSOLE_SETUP_LINK!);
  await expect(page.getByRole('heading', { name: 'Créer le premier administrateur' })).toBeVisible();
  await page.getByLabel('Identifiant').fill(ADMIN);
  await page.getByLabel('Mot de passe', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByLabel('Confirmation du mot de passe').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: "Créer l'administrateur" }).click();
  await expect(page.getByText('Compte administrateur créé. Connectez-vous.')).toBeVisible();

  // The link works once.
  await page.goto(process.env.CONSOLE_SETUP_LINK!);
  await expect(page.getByText("Ce lien de création n'est pas valide ou a déjà servi.")).toBeVisible();

  await signIn(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.locator('#welcome')).toHaveText(`Bonjour ${ADMIN}.`);
  await hydrated(page);

  // The admin creates an operator from the accounts page.
  await page.getByRole('link', { name: 'Comptes' }).click();
  await expect(page.getByRole('heading', { name: 'Comptes', exact: true })).toBeVisible();
  await page.getByLabel('Identifiant').fill(OPERATOR);
  await page.getByLabel('Rôle').selectOption('operator');
  await page.getByLabel('Mot de passe initial').fill('court');
  await page.getByRole('button', { name: 'Créer le compte' }).click();
  // Refused next to the field (the browser's own minlength check aside).
  await page.getByLabel('Mot de passe initial').evaluate((input: HTMLInputElement) => input.removeAttribute('minlength'));
  await page.getByRole('button', { name: 'Créer le compte' }).click();
  await expect(page.locator('#new-password-error')).toHaveText('Le mot de passe doit compter au moins 12 caractères.');
  await page.getByLabel('Mot de passe initial').fill(OPERATOR_PASSWORD);
  await page.getByRole('button', { name: 'Créer le compte' }).click();
  await expect(page.locator('#account-created')).toBeVisible();
  await expect(page.locator(`tr[data-username="${OPERATOR}"]`)).toContainText('opérateur');

  await page.getByRole('button', { name: 'Se déconnecter' }).click();
  await expect(page.getByText('Vous êtes déconnecté.')).toBeVisible();

  // The operator signs in; the accounts page is forbidden to them.
  await signIn(page, OPERATOR, OPERATOR_PASSWORD);
  await expect(page.locator('#welcome')).toHaveText(`Bonjour ${OPERATOR}.`);
  await expect(page.getByRole('link', { name: 'Comptes' })).toHaveCount(0);
  const forbidden = await page.goto('/accounts');
  expect(forbidden!.status()).toBe(403);
  await expect(page.getByText('Accès refusé : votre rôle ne permet pas cette action.')).toBeVisible();

  // The audit page shows every one of those events.
  await page.goto('/audit');
  const table = page.locator('#audit-table');
  for (const [actor, action] of [
    [ADMIN, 'account.setup_admin'],
    [ADMIN, 'session.sign_in'],
    [ADMIN, 'account.create'],
    [ADMIN, 'session.sign_out'],
    [OPERATOR, 'session.sign_in'],
    [OPERATOR, 'request.forbidden'],
  ]) {
    await expect(table.locator('tr', { hasText: action }).filter({ hasText: actor }).first()).toBeVisible();
  }
  await expect(page.locator('#chain-state')).toContainText('Chaîne d\'intégrité vérifiée');

  // Filter by operator: only their rows.
  await page.getByLabel('Opérateur').fill(ADMIN);
  await page.getByRole('button', { name: 'Filtrer' }).click();
  await expect(page).toHaveURL(/actor=admin\.marie/);
  const actors = await table.locator('tbody tr td:nth-child(2)').allTextContents();
  expect(actors.length).toBeGreaterThanOrEqual(4);
  expect(new Set(actors)).toEqual(new Set([ADMIN]));
  const ids = await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));

  // The CSV export holds the same rows.
  const downloadPromise = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Exporter en CSV' }).click();
  const download = await downloadPromise;
  await page.screenshot({ path: 'test-results/audit.png', fullPage: true });
  const csv = fs.readFileSync(await download.path(), 'utf8').trim().split('\n');
  expect(csv[0]).toBe('id,at,actor,action,target,outcome,details,client_address,request_id');
  expect(csv.slice(1).map((line) => line.split(',')[0])).toEqual(ids);
  expect(csv.slice(1).every((line) => line.split(',')[2] === ADMIN)).toBe(true);
});

test('a wrong password is answered next to the form, announced', async ({ page }) => {
  await signIn(page, OPERATOR, 'not the right one at all');
  const alert = page.locator('#sign-in-error');
  await expect(alert).toHaveText('Identifiant ou mot de passe incorrect.');
  await expect(alert).toHaveAttribute('role', 'alert');
  await signIn(page, 'nobody.at.all', 'not the right one at all');
  await expect(alert).toHaveText('Identifiant ou mot de passe incorrect.');
});

test('signing in works with JavaScript disabled', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page, OPERATOR, OPERATOR_PASSWORD);
  await expect(page.locator('#welcome')).toHaveText(`Bonjour ${OPERATOR}.`);
  await page.getByRole('button', { name: 'Se déconnecter' }).click();
  await expect(page.getByText('Vous êtes déconnecté.')).toBeVisible();
  await context.close();
});

test('the English switch is remembered for the account', async ({ page, browser }) => {
  await signIn(page, OPERATOR, OPERATOR_PASSWORD);
  await page.getByRole('button', { name: 'English' }).click();
  await expect(page.getByRole('navigation').getByRole('link', { name: 'Audit log' })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');

  const other = await browser.newContext();
  const second = await other.newPage();
  await signIn(second, OPERATOR, OPERATOR_PASSWORD);
  await expect(second.locator('#welcome')).toHaveText(`Hello ${OPERATOR}.`);
  await hydrated(second);
  await second.getByRole('navigation').getByRole('link', { name: 'Audit log' }).click();
  await expect(second.getByRole('heading', { name: 'Audit log' })).toBeVisible();
  await other.close();

  await page.getByRole('button', { name: 'Français' }).click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'fr');
});

test('keyboard: skip link first, every control focusable with a visible focus', async ({ page }) => {
  await signIn(page, OPERATOR, OPERATOR_PASSWORD);
  await hydrated(page);
  await page.keyboard.press('Tab');
  await expect(page.locator('.skip-link')).toBeFocused();
  await page.keyboard.press('Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
  expect(outline).not.toBe('none');
});

test('an API token from the account page: shown once, used by a script, revoked; the sessions listed', async ({ page, browser, request }) => {
  await signIn(page, OPERATOR, OPERATOR_PASSWORD);
  await page.goto('/account');
  await hydrated(page);

  // "Mes sessions": this one, marked; another browser's too.
  const other = await browser.newContext({ userAgent: 'Navigateur du téléphone' });
  const phone = await other.newPage();
  await signIn(phone, OPERATOR, OPERATOR_PASSWORD);
  // Signed in (not merely posted) before this page lists the sessions.
  await expect(phone.locator('#welcome')).toHaveText(`Bonjour ${OPERATOR}.`);
  await page.reload();
  await hydrated(page);
  const sessions = page.locator('#my-sessions');
  await expect(sessions.locator('tr.current')).toContainText('cette session');
  const phoneRow = sessions.locator('tr', { hasText: 'Navigateur du téléphone' });
  await expect(phoneRow).toBeVisible();
  // Ended from here: the phone is signed out at its next click.
  await phoneRow.getByRole('button', { name: 'Terminer' }).click();
  await expect(phoneRow).toHaveCount(0);
  await phone.goto('/');
  await expect(phone).toHaveURL(/\/sign-in/);
  await other.close();

  // Issue a read token: its secret is shown once, with how to use it.
  const tokens = page.locator('#my-tokens');
  await tokens.getByLabel('Nom').fill('Supervision externe');
  await expect(tokens.getByLabel('Portée').locator('option')).toHaveText(['Lecture', 'Exploitation']);
  await tokens.getByLabel('Portée').selectOption('read');
  await tokens.getByRole('button', { name: 'Créer le jeton' }).click();
  const secret = (await page.locator('#token-secret').textContent())!.trim();
  expect(secret).toMatch(/^ocp_[0-9a-f]{64}$/);
  await expect(page.locator('#token-issued')).toContainText('il ne sera plus jamais affiché');
  // The example names the console's own address (the page is rendered by the server).
  await expect(page.locator('#token-issued pre')).toContainText(
    `curl -H "Authorization: Bearer ${secret}" ${new URL(page.url()).origin}/api/v1/hosts`);
  const row = tokens.locator('tr[data-token="Supervision externe"]');
  await expect(row).toContainText('Lecture');
  await expect(row).toContainText('Jamais utilisé');

  // A script uses it (no cookie): it reads, it may not act.
  const hosts = await request.get('/api/v1/hosts', { headers: { Authorization: `Bearer ${secret}` } });
  expect(hosts.status()).toBe(200);
  expect(Array.isArray(await hosts.json())).toBe(true);
  const refused = await request.post('/api/v1/hosts/1/jobs', {
    headers: { Authorization: `Bearer ${secret}` },
    data: { action: 'webapp.restart_web_server' },
  });
  expect(refused.status()).toBe(403);
  expect((await refused.json()).code).toBe('forbidden');

  // Read again, the page never shows the secret; the use is listed.
  await page.reload();
  await hydrated(page);
  expect(await page.content()).not.toContain(secret);
  await expect(row).toContainText('127.0.0.1');

  // Revoked in one click: the script is refused at once.
  await row.getByRole('button', { name: 'Révoquer' }).click();
  await expect(row).toContainText('Révoqué le');
  const after = await request.get('/api/v1/hosts', { headers: { Authorization: `Bearer ${secret}` } });
  expect(after.status()).toBe(401);
  await page.screenshot({ path: 'test-results/my-account.png', fullPage: true });
});

test('a second factor required of admins: a new admin is sent to enrol, signs in with a code once, a recovery code once, and turns it off', async ({ page, browser }) => {
  const SECOND = 'admin.secours';
  const SECOND_PASSWORD = 'une margherita bien cuite';
  await signIn(page, ADMIN, ADMIN_PASSWORD);
  await page.goto('/accounts');
  await hydrated(page);
  await page.getByLabel('Identifiant').fill(SECOND);
  await page.getByLabel('Rôle').selectOption('admin');
  await page.getByLabel('Mot de passe initial').fill(SECOND_PASSWORD);
  await page.getByRole('button', { name: 'Créer le compte' }).click();
  await expect(page.locator(`tr[data-username="${SECOND}"]`)).toBeVisible();
  // Required of admins from now on: this admin, who has none, is taken
  // to enrol at once, and the console's pages send her back there.
  const policy = page.locator('#second-factors');
  await policy.getByLabel('Obligatoire pour').selectOption('admins');
  await policy.getByRole('button', { name: 'Enregistrer' }).click();
  await expect(page).toHaveURL(/\/second-factor$/);
  await expect(page.getByRole('heading', { name: 'Double authentification obligatoire' })).toBeVisible();
  await page.goto('/audit');
  await expect(page).toHaveURL(/\/second-factor$/);

  // The new admin signs in and is sent to enrol before anything else.
  const context = await browser.newContext();
  const second = await context.newPage();
  await signIn(second, SECOND, SECOND_PASSWORD);
  await expect(second).toHaveURL(/\/second-factor$/);
  await expect(second.getByRole('heading', { name: 'Double authentification obligatoire' })).toBeVisible();
  await hydrated(second);
  await second.getByRole('button', { name: 'Activer la double authentification' }).click();
  await expect(second.getByRole('img', { name: "QR code à scanner avec l'application d'authentification" })).toBeVisible();
  await expect(second.locator('.qr svg')).toBeVisible();
  const secret = base32((await second.locator('#second-factor-secret').textContent())!);
  expect(secret.length).toBe(20);
  // A wrong code first, then the app's.
  const enrolledAt = currentStep();
  await second.getByLabel("Code affiché par l'application").fill(totp(secret, enrolledAt + 5));
  await second.getByRole('button', { name: 'Confirmer et activer' }).click();
  await expect(second.locator('#second-factor-first-code-error')).toContainText('Code incorrect');
  await second.getByLabel("Code affiché par l'application").fill(totp(secret, enrolledAt));
  await second.getByRole('button', { name: 'Confirmer et activer' }).click();
  const codes = second.locator('#recovery-codes li');
  await expect(codes).toHaveCount(10);
  await expect(second.locator('#recovery-codes')).toContainText('ne seront plus jamais affichés');
  const recovery = (await codes.allTextContents()).map((c) => c.trim());
  await second.screenshot({ path: 'test-results/second-factor-enrolled.png', fullPage: true });
  await second.getByRole('link', { name: 'Continuer vers la console' }).click();
  await expect(second.locator('#welcome')).toHaveText(`Bonjour ${SECOND}.`);

  // Signing in again: the password, then the code (the next step's: the
  // one used to enrol is spent).
  await second.getByRole('button', { name: 'Se déconnecter' }).click();
  await signIn(second, SECOND, SECOND_PASSWORD);
  await expect(second).toHaveURL(/\/sign-in\/code/);
  await expect(second.getByRole('heading', { name: 'Code de vérification' })).toBeVisible();
  const next = totp(secret, enrolledAt + 1);
  await second.getByLabel('Code à 6 chiffres ou code de secours').fill(next);
  await second.getByRole('button', { name: 'Se connecter' }).click();
  await expect(second.locator('#welcome')).toHaveText(`Bonjour ${SECOND}.`);

  // The same code again: refused, said next to the field.
  await second.getByRole('button', { name: 'Se déconnecter' }).click();
  await signIn(second, SECOND, SECOND_PASSWORD);
  await second.getByLabel('Code à 6 chiffres ou code de secours').fill(next);
  await second.getByRole('button', { name: 'Se connecter' }).click();
  await expect(second.locator('#code-error')).toHaveText('Ce code a déjà servi. Attendez le suivant (30 secondes au plus).');
  // A recovery code instead: once.
  await second.getByLabel('Code à 6 chiffres ou code de secours').fill(recovery[0]);
  await second.getByRole('button', { name: 'Se connecter' }).click();
  await expect(second.locator('#welcome')).toHaveText(`Bonjour ${SECOND}.`);

  // The requirement lifted (by the enrolled admin: the first admin, who has
  // no second factor, would be sent to enrol), then the factor turned off
  // from the account page with the password and a recovery code.
  await second.goto('/accounts');
  await hydrated(second);
  const choice = second.locator('#second-factors');
  await expect(choice.locator('ul.enrolled')).toContainText(SECOND);
  await choice.getByLabel('Obligatoire pour').selectOption('nobody');
  await choice.getByRole('button', { name: 'Enregistrer' }).click();
  await expect(choice.getByText('Choix enregistré.')).toBeVisible();
  await second.goto('/account');
  await hydrated(second);
  const own = second.locator('#second-factor');
  await expect(own.locator('#second-factor-state')).toContainText('9 codes de secours restants');
  await own.getByLabel('Mot de passe actuel').fill(SECOND_PASSWORD);
  await own.getByLabel('Code à 6 chiffres ou code de secours').fill(recovery[1]);
  await own.getByRole('button', { name: 'Désactiver' }).click();
  await expect(own.locator('#second-factor-off')).toBeVisible();
  await expect(own.locator('#second-factor-state')).toHaveText("La double authentification n'est pas activée.");
  await context.close();

  // The first admin's console answers again; the audit log has it all.
  await page.goto('/audit');
  await hydrated(page);
  for (const action of ['second_factor.policy', 'second_factor.enrol', 'second_factor.refused', 'second_factor.recovery_used', 'second_factor.disable']) {
    await expect(page.locator('table').getByText(action).first()).toBeVisible();
  }
});
