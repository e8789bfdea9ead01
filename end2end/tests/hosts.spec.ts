// Manual §4.1.2 and §5.2 in a real browser against the staging host (real
// sshd, NGINX, Gunicorn): register the host after confirming its key
// fingerprint, stop NGINX (the site goes offline), restart it (the site
// answers again), output live on the job page, both in the audit log. The
// Déploiements page shows the commit the app runs and its remote's branches.
import { test, expect, Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

const ADMIN = 'admin.marie';
const ADMIN_PASSWORD = 'une pizza au feu de bois';
const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through scripts/test`);
  return value;
};

async function siteStatus(): Promise<number> {
  try {
    return (await fetch(env('STAGING_SITE_URL'))).status;
  } catch {
    return 0;
  }
}

async function signIn(page: Page) {
  await page.goto('/sign-in');
  await page.getByLabel('Identifiant').fill(ADMIN);
  await page.getByLabel('Mot de passe').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.locator('body[data-hydrated="true"]').waitFor();
}

async function runAndFollow(page: Page, button: string, confirm?: string) {
  await page.locator(button).click();
  if (confirm) await page.locator(confirm).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('#job-status')).toHaveAttribute('data-status', 'succeeded', { timeout: 20_000 });
}

test('register the staging host, stop NGINX, restart it, all audited', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Serveur' }).click();
  await expect(page.getByRole('heading', { name: 'Enregistrer un hôte' })).toBeVisible();

  await page.getByLabel("Nom de l'hôte").fill('staging');
  await page.getByLabel('Adresse SSH').fill(env('STAGING_SSH_ADDRESS'));
  await page.getByLabel('Port SSH').fill(env('STAGING_SSH_PORT'));
  await page.getByLabel('Utilisateur SSH').fill(env('STAGING_SSH_USER'));
  await page.getByLabel('Clé privée de la console pour cet hôte').fill(fs.readFileSync(env('STAGING_SSH_KEY'), 'utf8'));
  await page.getByLabel("Répertoire de l'application").fill(env('STAGING_APP_DIR'));
  await page.getByLabel('Commande de contrôle des services').fill(env('STAGING_SERVICE_COMMAND'));
  await page.getByLabel('Adresse du site').fill(env('STAGING_SITE_URL'));

  // The fingerprint shown is the one ssh-keygen gives on the host.
  await page.getByRole('button', { name: "Lire l'empreinte de la clé d'hôte" }).click();
  const expected = execFileSync('ssh-keygen', ['-lf', env('STAGING_HOST_KEY')], { encoding: 'utf8' }).split(' ')[1];
  await expect(page.locator('#presented-fingerprint')).toHaveText(expected);
  await expect(page.locator('#register-host')).toBeDisabled();
  await page.getByLabel("J'ai comparé : c'est bien la clé de ce serveur.").check();
  await page.locator('#register-host').click();
  await expect(page).toHaveURL(/\/server\/\d+$/);
  await expect(page.locator('#pinned-fingerprint')).toHaveText(expected);
  await expect(page.locator('#service-states')).toContainText('nginx : active');
  const hostUrl = page.url();

  // Stop NGINX, after the confirmation that the site will be offline.
  expect(await siteStatus()).toBe(200);
  await page.locator('#stop-web-server').click();
  await expect(page.getByText('Le site sera hors ligne tant que le serveur web sera arrêté. Confirmer l\'arrêt ?')).toBeVisible();
  await runAndFollow(page, '#confirm-stop');
  await expect(page.locator('#job-output')).toContainText('nginx stopped');
  await expect(page.locator('#command-line')).toHaveText(`${env('STAGING_SERVICE_COMMAND')} nginx stop`);
  expect(await siteStatus()).toBe(0);

  // Restart it: the site answers again.
  await page.goto(hostUrl);
  await page.locator('body[data-hydrated="true"]').waitFor();
  await expect(page.locator('#service-states')).toContainText('nginx : inactive');
  await page.screenshot({ path: 'test-results/host.png', fullPage: true });
  await runAndFollow(page, '#restart-web-server');
  await expect(page.locator('#job-output')).toContainText('nginx restarted');
  await page.screenshot({ path: 'test-results/job.png', fullPage: true });
  expect(await siteStatus()).toBe(200);

  // The audit log shows both, with the operator's name.
  await page.goto('/audit?actor=' + ADMIN);
  const table = page.locator('#audit-table');
  await expect(table.locator('tr', { hasText: 'webapp.stop_web_server' }).first()).toContainText(ADMIN);
  await expect(table.locator('tr', { hasText: 'webapp.restart_web_server' }).first()).toContainText(ADMIN);
  await expect(table.locator('tr', { hasText: 'host.register' }).first()).toContainText('staging');
});

// Manual §7.1, after the host above is registered: Back up now (the job
// page shows the bytes moving), the backup in the catalog, Restore with the
// database's name typed in, both in the audit log.
test('back up the staging database, find it in the catalog, restore it', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Sauvegardes' }).click();
  await expect(page.getByRole('heading', { name: 'staging' })).toBeVisible();
  await expect(page.locator('#backup-catalog')).toHaveText('Aucune sauvegarde pour l\'instant.');
  // The console and the staging host share this machine: the page says so.
  await expect(page.getByText('le stockage des sauvegardes est sur la machine de ce serveur')).toBeVisible();

  await page.getByLabel('Motif (facultatif)').fill('essai du navigateur');
  await runAndFollow(page, 'button.backup-now');
  await expect(page.locator('#job-output')).toContainText('pg_dump → ');
  await expect(page.locator('#job-output')).toContainText('sha256');
  await page.screenshot({ path: 'test-results/backup-job.png', fullPage: true });

  await page.goto('/backups');
  await page.locator('body[data-hydrated="true"]').waitFor();
  const row = page.locator('#backup-catalog tr[data-backup]').first();
  await expect(row).toContainText('ocpizza_db');
  await expect(row).toContainText('réussie');
  await expect(row).toContainText('manuelle');
  await page.screenshot({ path: 'test-results/backups.png', fullPage: true });

  await row.getByRole('link', { name: 'Restaurer…' }).click();
  await expect(page.getByRole('heading', { name: 'Restaurer une sauvegarde' })).toBeVisible();
  await expect(page.locator('#restore-warning')).toContainText('ocpizza_db');
  await page.getByLabel('Pour confirmer, tapez le nom de la base : ocpizza_db').fill('ocpizza');
  await page.locator('#restore-submit').click();
  await expect(page.locator('#database-confirmation-error')).toHaveText(
    "Le nom tapé n'est pas celui de la base : rien n'a été restauré.",
  );
  await page.getByLabel('Pour confirmer, tapez le nom de la base : ocpizza_db').fill('ocpizza_db');
  await runAndFollow(page, '#restore-submit');
  await expect(page.locator('#job-output')).toContainText('safety backup');
  expect(await siteStatus()).toBe(200);

  await page.goto('/audit?actor=' + ADMIN);
  const table = page.locator('#audit-table');
  await expect(table.locator('tr', { hasText: 'backup.run' }).first()).toContainText('staging');
  await expect(table.locator('tr', { hasText: 'backup.restore' }).first()).toContainText('staging');
});

// Manual §7.1, after the backup above: verify it by a test restore into a
// scratch database (the embedded PostgreSQL), see the RPO and RTO, and
// schedule the host's backups (a cron expression that does not read is
// answered next to its field).
test('verify a backup, then schedule the host\'s backups', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page);
  await page.goto('/backups');
  await page.locator('body[data-hydrated="true"]').waitFor();
  const card = page.locator('section[data-host]').first();
  await expect(card.locator('dd.rpo')).toHaveText('jamais');

  const row = page.locator('#backup-catalog tr[data-backup]').first();
  await expect(row.locator('td.verification')).toHaveText('non vérifiée');
  await runAndFollow(page, '#backup-catalog tr[data-backup] >> nth=0 >> button.verify-backup');
  await expect(page.locator('#job-output')).toContainText('public.pizzas_pizza: ');
  await expect(page.locator('#job-output')).toContainText('dropped');

  await page.goto('/backups');
  await page.locator('body[data-hydrated="true"]').waitFor();
  await expect(page.locator('#backup-catalog tr[data-backup]').first().locator('td.verification')).toContainText('vérifiée :');
  await expect(card.locator('dd.rpo')).toContainText('il y a');
  await expect(card.locator('dd.rto')).toContainText(' s');

  // No schedule saved yet: its form is open, with the defaults.
  await expect(card.locator('.schedule-summary')).toHaveText('Pas de sauvegarde planifiée pour ce serveur.');
  await expect(card.getByLabel('Fuseau horaire')).toHaveValue('Europe/Paris');
  await card.getByLabel('Expression cron (minute heure jour mois jour-de-semaine)').fill('tous les soirs');
  await card.locator('button.save-schedule').click();
  await expect(card.locator('[id$="-cron-error"]')).toContainText("Cette expression cron n'est pas valide");
  await card.getByLabel('Expression cron (minute heure jour mois jour-de-semaine)').fill('15 4 * * *');
  await card.getByLabel('Fuseau horaire').fill('UTC');
  await card.locator('button.save-schedule').click();
  await expect(card.getByText('Planification enregistrée.')).toBeVisible();
  await expect(card.locator('.schedule-summary')).toContainText('« 15 4 * * * » (UTC)');
  await expect(card.locator('.schedule-summary')).toContainText('04:15:00 UTC');
  await page.screenshot({ path: 'test-results/backups-scheduled.png', fullPage: true });

  // The home page shows the host's backups at a glance.
  await page.goto('/');
  await expect(page.locator('#dashboard-backups')).toContainText('staging');
  await expect(page.locator('#dashboard-backups dd.rpo')).toContainText('il y a');

  await page.goto('/audit?actor=' + ADMIN);
  const table = page.locator('#audit-table');
  await expect(table.locator('tr', { hasText: 'backup.verify' }).first()).toContainText('staging');
  await expect(table.locator('tr', { hasText: 'backup.schedule' }).first()).toContainText('15 4 * * *');
});

test('the Déploiements page shows the commit the app runs and the branches it could run', async ({ page }) => {
  await signIn(page);
  await page.goto('/deployments');
  const card = page.locator('section[id^="deploys-"]').first();
  await expect(card.getByRole('heading', { name: 'staging' })).toBeVisible();
  const head = execFileSync('git', ['-C', env('STAGING_APP_DIR'), 'rev-parse', '--short=7', 'HEAD']).toString().trim();
  await expect(card.locator('.deployed-commit')).toContainText(head);
  await expect(card.locator('.deployed-branch')).toHaveText('main');
  for (const branch of ['main', 'release/1.1', 'feature/menu-hiver']) {
    await expect(card.locator(`tr[data-branch="${branch}"]`)).toBeVisible();
  }
  await expect(card.locator('tr.deployed')).toContainText('déployée');
  await page.screenshot({ path: 'test-results/deployments.png', fullPage: true });
});
