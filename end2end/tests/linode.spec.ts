// Manual §5.1 in a real browser, on the host registered by hosts.spec.ts:
// the console runs with its simulated Linode (no token: the local double of
// the API, labelled "Linode simulé"). A malformed token is refused next to
// its field; an admin lists the account's instances and links one; Reboot
// opens a job whose output shows the event's percent while the host page,
// open beside it, shows the state go "rebooting" then "running" on its own.
// A viewer, without JavaScript, reads the state and the graphs drawn by the
// server, and finds nothing to press. Last, an admin enters a real token
// (the configured API is the demo account's double on its own port): the
// console leaves its simulator, and the token is nowhere to be read.
import * as fs from 'node:fs';
import { test, expect, Page } from '@playwright/test';

const ADMIN = 'admin.marie';
const ADMIN_PASSWORD = 'une pizza au feu de bois';

async function signIn(page: Page) {
  await page.goto('/sign-in');
  await page.getByLabel('Identifiant').fill(ADMIN);
  await page.getByLabel('Mot de passe').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.locator('body[data-hydrated="true"]').waitFor();
}

async function openHost(page: Page) {
  await page.goto('/server');
  await page.getByRole('link', { name: 'staging' }).first().click();
  await expect(page).toHaveURL(/\/server\/\d+$/);
  await page.locator('body[data-hydrated="true"]').waitFor();
}

test('link the simulated Linode, reboot it, follow the state and the percent', async ({ page, context }) => {
  await signIn(page);
  await openHost(page);
  const section = page.locator('#linode');
  await expect(section.locator('#linode-simulated')).toContainText('Linode simulé');
  await expect(section.locator('#linode-not-linked')).toBeVisible();
  await expect(section.locator('#linode-token-state')).toHaveText('non défini');

  // A token that is not one: said next to the field, nothing stored.
  await section.locator('#linode-token summary').click();
  await section.getByLabel('Nouveau jeton').fill('pas-un-jeton');
  await section.locator('#linode-token-save').click();
  await expect(section.locator('#linode-token-error')).toContainText("Ce n'est pas un jeton Linode");
  await expect(section.locator('#linode-token-state')).toHaveText('non défini');

  // Pick the instance from the account's list.
  await section.locator('#linode-list').click();
  // ocpizza-prod, the simulated account's production instance.
  await section.getByLabel("Instance Linode de cet hôte").selectOption("24681357");
  await section.locator('#linode-link').click();
  await expect(section.locator('#linode-label')).toContainText('ocpizza-prod');
  await expect(section.locator('#linode-state')).toHaveAttribute('data-state', 'running');
  await expect(section.locator('#linode-state')).toHaveText('en marche');
  const hostUrl = page.url();

  // The home page shows it too, simulated.
  await page.goto('/');
  await expect(page.locator('#dashboard-linodes')).toContainText('ocpizza-prod');
  await expect(page.locator('#dashboard-linodes')).toContainText('Linode simulé');

  // Reboot: the job page shows the event's percent; the host page, open
  // beside it, shows the state move on its own.
  await page.goto(hostUrl);
  await page.locator('body[data-hydrated="true"]').waitFor();
  await page.locator('#linode-reboot').click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  const beside = await context.newPage();
  await beside.goto(hostUrl);
  await expect(beside.locator('#linode-state')).toHaveAttribute('data-state', 'rebooting', { timeout: 8_000 });
  await expect(page.locator('#job-output')).toContainText('state: rebooting');
  await expect(page.locator('#job-output')).toContainText(/linode_reboot: started · \d+ %/);
  await expect(page.locator('#job-status')).toHaveAttribute('data-status', 'succeeded', { timeout: 30_000 });
  await expect(page.locator('#job-output')).toContainText('linode_reboot: finished · 100 %');
  await expect(page.locator('#job-output')).toContainText('state: running');
  await expect(beside.locator('#linode-state')).toHaveAttribute('data-state', 'running', { timeout: 15_000 });
  await page.screenshot({ path: 'test-results/linode-job.png', fullPage: true });
  await beside.screenshot({ path: 'test-results/linode-host.png', fullPage: true });

  // Shut down asks first; cancelling changes nothing.
  await beside.locator('#linode-shutdown').click();
  await expect(beside.getByText('Arrêter le Linode coupe SSH et met le site hors ligne')).toBeVisible();
  await beside.getByRole('button', { name: 'Annuler' }).click();
  await expect(beside.locator('#linode-state')).toHaveAttribute('data-state', 'running');

  // Linode backups (§7.1): the simulated account has the service on, with
  // its automatic backups. Take a snapshot: it appears in the list.
  const backups = beside.locator('#linode-backup-list');
  await expect(backups.locator('tr[data-kind="auto"]')).toHaveCount(3);
  await expect(beside.getByText('Linode garde un seul instantané')).toBeVisible();
  await beside.getByLabel("Nom de l'instantané").fill('avant-deploiement');
  await beside.locator('#linode-snapshot').click();
  await expect(beside).toHaveURL(/\/jobs\/\d+$/);
  await expect(beside.locator('#job-status')).toHaveAttribute('data-status', 'succeeded', { timeout: 30_000 });
  await expect(beside.locator('#job-output')).toContainText('linode_snapshot: finished · 100 %');
  await beside.goto(hostUrl);
  const snapshot = beside.locator('#linode-backup-list tr[data-kind="snapshot"]');
  await expect(snapshot).toContainText('avant-deploiement');
  await expect(snapshot).toContainText('successful');

  // Restore asks for the instance's label: a wrong one restores nothing.
  await beside.locator('body[data-hydrated="true"]').waitFor();
  await snapshot.getByText('Restaurer…').click();
  await expect(snapshot.getByText("La restauration écrase les disques")).toBeVisible();
  await snapshot.getByLabel("Pour confirmer, tapez l'étiquette de l'instance").fill('ocpizza-staging');
  await snapshot.getByRole('button', { name: 'Restaurer cette sauvegarde' }).click();
  await expect(snapshot).toContainText("Ce n'est pas l'étiquette de l'instance : rien n'a été restauré.");
  // Still the host page (the form comes back to it), no job opened.
  expect(new URL(beside.url()).pathname).toBe(new URL(hostUrl).pathname);

  // Audited.
  await page.goto('/audit?actor=' + ADMIN);
  const table = page.locator('#audit-table');
  await expect(table.locator('tr', { hasText: 'linode.reboot' }).first()).toContainText('staging');
  await expect(table.locator('tr', { hasText: 'linode.link' }).first()).toContainText('staging');
  await expect(table.locator('tr', { hasText: 'linode.snapshot' }).first()).toContainText('staging');
});

test('a viewer reads the state and the graphs without JavaScript, and finds no button', async ({ page, browser }) => {
  const VIEWER = 'lecteur.linode';
  const VIEWER_PASSWORD = 'une calzone bien dorée';
  await signIn(page);
  await page.goto('/accounts');
  await page.getByLabel('Identifiant').fill(VIEWER);
  await page.getByLabel('Rôle').selectOption('viewer');
  await page.getByLabel('Mot de passe initial').fill(VIEWER_PASSWORD);
  await page.getByRole('button', { name: 'Créer le compte' }).click();
  await expect(page.locator(`tr[data-username="${VIEWER}"]`)).toContainText('lecteur');
  await openHost(page);
  const hostUrl = page.url();

  const context = await browser.newContext({ javaScriptEnabled: false });
  const viewer = await context.newPage();
  await viewer.goto('/sign-in');
  await viewer.getByLabel('Identifiant').fill(VIEWER);
  await viewer.getByLabel('Mot de passe').fill(VIEWER_PASSWORD);
  await viewer.getByRole('button', { name: 'Se connecter' }).click();
  await expect(viewer.locator('#welcome')).toHaveText(`Bonjour ${VIEWER}.`);
  await viewer.goto(hostUrl);
  await expect(viewer.locator('#linode-state')).toHaveText('en marche');

  // Graphs (§8.2) drawn by the server: each an image with its name and a
  // description a screen reader says, axes labelled with their units.
  const graphs = viewer.locator('#linode-graphs');
  for (const name of ['Processeur', 'Réseau public (IPv4 et IPv6)', 'Entrées/sorties disque']) {
    const chart = graphs.getByRole('img', { name, exact: true });
    await expect(chart).toBeVisible();
    await expect(chart.locator('polyline').first()).toHaveAttribute('points', /^([\d.]+,[\d.]+ ){250,}/);
  }
  await expect(graphs.getByRole('img', { name: 'Processeur', exact: true })).toHaveAccessibleDescription(
    /moyenne [\d,]+\s%, pic [\d,]+\s% à \d\d:\d\d UTC, dernière mesure/,
  );
  await expect(viewer.locator('#linode-graph-network text').first()).toHaveText('0 bit/s');
  await expect(viewer.locator('#linode-graph-io')).toContainText('Disque');
  await viewer.screenshot({ path: 'test-results/linode-graphs-without-javascript.png', fullPage: true });

  // Nothing to press: power, snapshots, restores and the token are for others.
  await expect(viewer.locator('#linode button')).toHaveCount(0);
  await expect(viewer.locator('#linode input')).toHaveCount(0);
  // Nor on the rest of the page: the services' state, without their buttons.
  await expect(viewer.locator('#service-states')).toContainText('nginx : active');
  await expect(viewer.locator('#stop-web-server, #restart-web-server, #check-prerequisites')).toHaveCount(0);
  await context.close();
});

test('an admin enters a real token: checked, never shown again, and the console leaves its simulator', async ({ page }) => {
  // The token of the API the console is configured with (here the demo
  // account's double on its own port): read from its file, as an admin
  // would paste it from Linode's Cloud Manager.
  const token = fs.readFileSync(process.env.LINODE_TOKEN_FILE!, 'utf8').trim();
  await signIn(page);
  await openHost(page);
  const section = page.locator('#linode');
  await expect(section.locator('#linode-simulated')).toBeVisible();
  await section.locator('#linode-token summary').click();
  await section.getByLabel('Nouveau jeton').fill(token);
  await section.locator('#linode-token-save').click();
  await expect(section.locator('#linode-token-state')).toHaveText(
    /^défini · modifié le \d{4}-\d\d-\d\d \d\d:\d\d:\d\d par admin\.marie$/,
  );
  await expect(section.locator('#linode-simulated')).toHaveCount(0);
  // The instance's state now comes from the configured API.
  await expect(section.locator('#linode-state')).toHaveText('en marche');
  await expect(section.locator('#linode-token-input')).toHaveValue('');
  expect(await page.content()).not.toContain(token);

  await page.reload();
  expect(await page.content()).not.toContain(token);
  await expect(page.locator('#linode-simulated')).toHaveCount(0);
  await page.goto('/audit?actor=' + ADMIN);
  await expect(page.locator('#audit-table tr', { hasText: 'linode.token' }).first()).toBeVisible();
  expect(await page.content()).not.toContain(token);
});
