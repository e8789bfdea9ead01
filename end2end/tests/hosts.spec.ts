// Manual §4.1.2 and §5.2 in a real browser against the staging host (real
// sshd, NGINX, Gunicorn): register the host after confirming its key
// fingerprint, stop NGINX (the site goes offline), restart it (the site
// answers again), output live on the job page, both in the audit log. The
// Déploiements page shows the commit the app runs and its remote's branches;
// a deploy runs its steps, a failed one offers the way back, and the history
// returns to any version. The home page follows the host live: NGINX
// stopped from the host page (in another tab) turns its site red, and its
// web server "inactive", without a reload.
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

/// Signs in as the admin; waits for the page to be hydrated unless the
/// page's context runs without JavaScript.
async function signIn(page: Page, hydrated = true) {
  await page.goto('/sign-in');
  await page.getByLabel('Identifiant').fill(ADMIN);
  await page.getByLabel('Mot de passe').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  if (hydrated) await page.locator('body[data-hydrated="true"]').waitFor();
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

// Manual §5.2 without JavaScript: the host page's buttons are forms, and
// the question asked before stopping NGINX is the browser's own popover.
test('without JavaScript, the host page asks before stopping NGINX, and its buttons open their jobs', async ({ browser }) => {
  test.setTimeout(120_000);
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page, false);
  const hostUrl = (await page.locator('#dashboard-services li').filter({ hasText: 'staging' }).locator('a').first().getAttribute('href'))!;
  await page.goto(hostUrl);

  // Asked first; cancelling closes the question and changes nothing.
  await page.locator('#stop-web-server').click();
  const question = page.getByRole('alertdialog');
  await expect(question).toContainText('Le site sera hors ligne tant que le serveur web sera arrêté.');
  await question.getByRole('button', { name: 'Annuler' }).click();
  await expect(question).toHaveCount(0);
  expect(await siteStatus()).toBe(200);

  // Confirmed: the job's page, as the server rendered it.
  await page.locator('#stop-web-server').click();
  await page.locator('#confirm-stop').click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('#command-line')).toHaveText(`${env('STAGING_SERVICE_COMMAND')} nginx stop`);
  await expect.poll(siteStatus, { timeout: 20_000 }).toBe(0);

  // Restarted from the host page: the site answers again.
  await page.goto(hostUrl);
  await page.locator('#restart-web-server').click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('#command-line')).toHaveText(`${env('STAGING_SERVICE_COMMAND')} nginx restart`);
  await expect.poll(siteStatus, { timeout: 20_000 }).toBe(200);
  await context.close();
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
  for (const branch of ['main', 'release/1.1', 'feature/menu-hiver', 'feature/migration-cassee']) {
    await expect(card.locator(`tr[data-branch="${branch}"]`)).toBeVisible();
  }
  await expect(card.locator('tr.deployed')).toContainText('déployée');
  await page.screenshot({ path: 'test-results/deployments.png', fullPage: true });
});

async function siteVersion(): Promise<string> {
  const html = await (await fetch(env('STAGING_SITE_URL'))).text();
  return /<span id='version'>([^<]*)</.exec(html)?.[1] ?? '';
}

test('a deploy shows its steps as they run; a failed one offers the way back, and the history returns to any version', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page);
  await page.goto('/deployments');
  const card = page.locator('section[id^="deploys-"]').first();

  // A branch whose migration fails: confirmed, then followed step by step.
  await card.locator('tr[data-branch="feature/migration-cassee"] button.deploy-branch').click();
  await expect(card.getByRole('alertdialog')).toContainText('feature/migration-cassee');
  await card.getByRole('alertdialog').locator('button.confirm-deploy').click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  const steps = page.locator('#job-steps');
  await expect(steps.locator('li[data-step="fetch"]')).toContainText('Récupération des branches');
  await expect(page.locator('#job-status')).toHaveAttribute('data-status', 'failed', { timeout: 60_000 });
  await expect(steps.locator('li[data-step="backup"]')).toHaveAttribute('data-status', 'succeeded');
  await expect(steps.locator('li[data-step="migrate"]')).toHaveAttribute('data-status', 'failed');
  await expect(steps.locator('li[data-step="health-gate"]')).toHaveAttribute('data-status', 'skipped');
  await expect(page.locator('#job-status')).toContainText('migrations');
  await expect(page.locator('#job-output')).toContainText('0002_cassee');
  await page.screenshot({ path: 'test-results/deploy-failed.png', fullPage: true });

  // The way back, one click from the failed deploy's page.
  await expect(page.locator('#rollback-offer')).toContainText('a échoué');
  await page.locator('#offer-rollback').click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('#job-status')).toHaveAttribute('data-status', 'succeeded', { timeout: 60_000 });
  await expect(steps.locator('li[data-step="health-gate"]')).toHaveAttribute('data-status', 'succeeded');
  expect(await siteVersion()).toBe('1.0.0');

  // release/1.1: the site shows its version.
  await page.goto('/deployments');
  await card.locator('tr[data-branch="release/1.1"] button.deploy-branch').click();
  await card.getByRole('alertdialog').locator('button.confirm-deploy').click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('#job-status')).toHaveAttribute('data-status', 'succeeded', { timeout: 60_000 });
  expect(await siteVersion()).toBe('1.1.0');

  // The history, newest first; the rollback's version (main) is one
  // confirmed click away.
  await page.goto('/deployments');
  const history = card.locator('table.deploy-history');
  await expect(history.locator('tbody tr').first()).toContainText('release/1.1');
  await expect(history.locator('tbody tr').first()).toContainText('réussie');
  await expect(history).toContainText('retour arrière');
  await history.locator('tr', { hasText: 'retour arrière' }).locator('button.rollback').click();
  await expect(card.getByRole('alertdialog')).toContainText('OC Pizza 1.0.0');
  await card.getByRole('alertdialog').locator('button.confirm-rollback').click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('#job-status')).toHaveAttribute('data-status', 'succeeded', { timeout: 60_000 });
  expect(await siteVersion()).toBe('1.0.0');
  await page.goto('/deployments');
  await expect(card.locator('.deployed-branch')).toContainText('aucune');
  await page.screenshot({ path: 'test-results/deploy-history.png', fullPage: true });
  // The app back on its branch, as the other tests expect it.
  execFileSync('git', ['-C', env('STAGING_APP_DIR'), 'checkout', '-q', 'main']);
});

test('environment variables: a secret shows as set, never its value; apply writes the file and restarts the app', async ({ page }) => {
  test.setTimeout(90_000);
  await signIn(page);
  await page.goto('/server');
  await page.getByRole('link', { name: 'staging' }).first().click();
  await page.locator('#host-environment').click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText("Variables d'environnement de staging");
  const table = page.locator('#env-variables');
  await expect(table.locator('tr[data-name="POSTGRES_PASSWORD"]')).toContainText('non définie');

  // The host's file, taken as the console's values.
  await page.locator('#env-import').click();
  await expect(page.getByRole('alertdialog')).toContainText('staging');
  await page.locator('#env-import-yes').click();
  await expect(page.locator('#env-imported')).toContainText('POSTGRES_PASSWORD');
  await expect(table.locator('tr[data-name="POSTGRES_PASSWORD"]')).toContainText('définie');
  await expect(table.locator('tr[data-name="POSTGRES_PORT"] .env-value code')).toHaveText(env('STAGING_PG_PORT'));

  // A secret typed: "set", never the value.
  const secret = 'pp-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  await page.locator('#env-name').fill('PAYPAL_API_KEY');
  await page.locator('#env-value').fill(secret);
  await page.locator('#env-save').click();
  await expect(page.locator('#env-saved')).toBeVisible();
  const row = table.locator('tr[data-name="PAYPAL_API_KEY"]');
  await expect(row).toContainText('définie');
  await expect(row).toContainText('non appliquée');
  expect(await page.content()).not.toContain(secret);
  await page.reload();
  await page.locator('body[data-hydrated="true"]').waitFor();
  expect(await page.content()).not.toContain(secret);

  // Apply: a job of two steps; the host's file holds the value, mode 0600.
  await page.locator('#env-apply').click();
  await page.locator('#env-apply-yes').click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('#job-status')).toHaveAttribute('data-status', 'succeeded', { timeout: 30_000 });
  await expect(page.locator('#job-steps li[data-step="write-env"]')).toHaveAttribute('data-status', 'succeeded');
  expect(await page.content()).not.toContain(secret);
  const file = fs.readFileSync(`${env('STAGING_APP_DIR')}/.env`, 'utf8');
  expect(file).toContain(`PAYPAL_API_KEY='${secret}'`);
  expect(fs.statSync(`${env('STAGING_APP_DIR')}/.env`).mode & 0o777).toBe(0o600);
  expect(await siteStatus()).toBe(200);
  await page.goBack();
  await page.locator('body[data-hydrated="true"]').waitFor();
  await expect(page.locator('#env-versions tbody tr')).toHaveCount(2);
  await expect(page.locator('#env-pending')).toHaveCount(0);
  await page.screenshot({ path: 'test-results/environment.png', fullPage: true });

  // Removing asks first; cancelled, nothing changes; confirmed, the name
  // waits for the next apply.
  await row.locator('button.env-remove').click();
  await expect(row.getByRole('alertdialog')).toContainText('PAYPAL_API_KEY');
  await row.getByRole('alertdialog').getByRole('button', { name: 'Annuler' }).click();
  await expect(row.getByRole('alertdialog')).toHaveCount(0);
  await expect(row).toContainText('définie');
  await row.locator('button.env-remove').click();
  await row.locator('button.env-remove-yes').click();
  await expect(row).toContainText('non définie');
  await expect(page.locator('#env-pending')).toContainText('PAYPAL_API_KEY');
});

test('Supervision: the staging site probed now, found down when its text is missing, up again; the home page has its line', async ({ page }) => {
  test.setTimeout(90_000);
  await signIn(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Supervision' }).click();
  const site = page.locator('section.site').filter({ has: page.getByRole('heading', { name: 'staging' }) });
  const state = site.locator('h2 .state');
  await site.getByRole('button', { name: 'Sonder maintenant' }).click();
  await expect(state).toHaveAttribute('data-state', 'up', { timeout: 15_000 });
  await expect(site.locator('.uptime')).toContainText('sur 24 h');
  await expect(site.getByRole('img', { name: 'Temps de réponse du site sur 24 heures' })).toBeVisible();

  // An admin asks for a text the site does not show: the next probe says so.
  await site.getByText('Réglages de la sonde').click();
  await site.getByLabel('Texte attendu dans la réponse (facultatif)').fill('Pizzeria fermée');
  await site.getByRole('button', { name: 'Enregistrer les réglages' }).click();
  await expect(site.getByRole('status')).toContainText('Réglages enregistrés');
  await site.getByRole('button', { name: 'Sonder maintenant' }).click();
  await expect(state).toHaveAttribute('data-state', 'down', { timeout: 15_000 });
  await expect(site.locator('.failure')).toContainText('La réponse ne contient pas le texte attendu.');
  await page.screenshot({ path: 'test-results/monitoring.png', fullPage: true });

  // Back to any text: up again, and the home page's line says so.
  await site.getByText('Réglages de la sonde').click();
  await site.getByLabel('Texte attendu dans la réponse (facultatif)').fill('');
  await site.getByRole('button', { name: 'Enregistrer les réglages' }).click();
  await expect(site.getByRole('status')).toContainText('Réglages enregistrés');
  await site.getByRole('button', { name: 'Sonder maintenant' }).click();
  await expect(state).toHaveAttribute('data-state', 'up', { timeout: 15_000 });
  await page.getByRole('navigation').getByRole('link', { name: 'Tableau de bord' }).click();
  const line = page.locator('#dashboard-sites li').filter({ hasText: 'staging' });
  await expect(line.locator('.state')).toHaveAttribute('data-state', 'up', { timeout: 10_000 });
  await expect(line.getByRole('img', { name: 'Temps de réponse du site sur 24 heures' })).toBeVisible();
});

test('Alerts: a webhook added (a bad URL refused first, its token never shown), its test says why it failed, a rule changed, the channel removed; the home page counts open alerts', async ({ page }) => {
  await signIn(page);
  await page.getByRole('navigation').getByRole('link', { name: 'Alertes' }).click();
  await expect(page.getByRole('heading', { name: 'Règles' })).toBeVisible();
  const add = page.locator('#add-webhook');
  await add.getByLabel('Nom du canal').fill('Mattermost astreinte');
  await add.getByLabel('URL du webhook').fill('http://hooks.example.com/hooks/x');
  await add.getByRole('button', { name: 'Ajouter' }).click();
  await expect(add.locator('#webhook-url-error')).toContainText('doit être en https');

  // Nothing listens on the discard port: the test says the server cannot be reached.
  await add.getByLabel('URL du webhook').fill('http://127.0.0.1:9/hooks/jeton-du-canal');
  await add.getByRole('button', { name: 'Ajouter' }).click();
  await expect(add.getByRole('status')).toContainText('Canal ajouté');
  await expect(add.getByLabel('URL du webhook')).toHaveValue('');
  const channel = page.locator('#alert-channels li.channel').filter({ hasText: 'Mattermost astreinte' });
  await expect(channel).toContainText('Adresse http://127.0.0.1:9');
  await expect(page.locator('body')).not.toContainText('jeton-du-canal');
  await channel.getByRole('button', { name: 'Envoyer un test' }).click();
  await expect(page.locator('#channel-test-error')).toContainText('le serveur est injoignable');

  // An admin changes a rule's threshold.
  const slow = page.locator('#alert-rules li.rule[data-kind="site-slow"]');
  await slow.getByLabel('Seuil (ms)').fill('1500');
  await slow.getByRole('button', { name: 'Enregistrer' }).click();
  await expect(slow.locator('.rule-summary')).toContainText('au-delà de 1500 ms');
  await page.screenshot({ path: 'test-results/alerts.png', fullPage: true });

  // Removing asks first.
  await channel.getByRole('button', { name: 'Supprimer' }).click();
  await expect(channel.getByRole('alertdialog')).toContainText('Mattermost astreinte');
  await channel.locator('button.confirm-remove').click();
  await expect(page.locator('#alert-channels li.channel').filter({ hasText: 'Mattermost astreinte' })).toHaveCount(0);

  await page.getByRole('navigation').getByRole('link', { name: 'Tableau de bord' }).click();
  await expect(page.locator('#dashboard-alerts')).toContainText('alerte');
});

test('the home page shows the staging host at a glance and follows it live: NGINX stopped from the host page turns the site red without a reload', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page);
  await page.goto('/');
  await page.locator('body[data-hydrated="true"]').waitFor();
  // Every card with the staging host's real values.
  const site = page.locator('#dashboard-sites li').filter({ hasText: 'staging' });
  await expect(site.locator('.state')).toHaveAttribute('data-state', 'up', { timeout: 20_000 });
  const services = page.locator('#dashboard-services li').filter({ hasText: 'staging' });
  await expect(services.locator('[data-unit="nginx"]')).toContainText('nginx : active');
  await expect(services.locator('[data-unit="gunicorn"]')).toContainText('gunicorn : active');
  await expect(page.locator('#dashboard-deploys li').filter({ hasText: 'staging' })).toContainText('@');
  await expect(page.locator('#dashboard-backups')).toContainText('staging');
  await expect(page.locator('#dashboard-alerts')).toBeVisible();
  await page.screenshot({ path: 'test-results/home.png', fullPage: true });
  // A mark that a reload would erase.
  await page.evaluate(() => { (window as any).notReloaded = true; });

  // Another tab: the host page, NGINX stopped after its confirmation.
  const hostPage = await page.context().newPage();
  const hostUrl = (await site.locator('a').first().getAttribute('href'))!;
  await hostPage.goto(hostUrl);
  await hostPage.locator('body[data-hydrated="true"]').waitFor();
  await hostPage.locator('#stop-web-server').click();
  await runAndFollow(hostPage, '#confirm-stop');

  // The home page, untouched, turns red, and says NGINX is inactive.
  await expect(site.locator('.state')).toHaveAttribute('data-state', 'down', { timeout: 30_000 });
  await expect(services.locator('[data-unit="nginx"]')).toContainText('nginx : inactive', { timeout: 30_000 });
  expect(await page.evaluate(() => (window as any).notReloaded)).toBe(true);
  await page.screenshot({ path: 'test-results/home-down.png', fullPage: true });

  // Restarted: green again, still without a reload.
  await hostPage.goto(hostUrl);
  await hostPage.locator('body[data-hydrated="true"]').waitFor();
  await runAndFollow(hostPage, '#restart-web-server');
  expect(await siteStatus()).toBe(200);
  await expect(site.locator('.state')).toHaveAttribute('data-state', 'up', { timeout: 30_000 });
  await expect(services.locator('[data-unit="nginx"]')).toContainText('nginx : active', { timeout: 30_000 });
  expect(await page.evaluate(() => (window as any).notReloaded)).toBe(true);
  await hostPage.close();
});
