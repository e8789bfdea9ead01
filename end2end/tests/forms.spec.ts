// Forms, with and without JavaScript: a refused value comes back with its
// sentence in French next to the field, and the values typed (secrets
// aside) are still in the form. Runs after console.spec.ts, which creates
// the first admin.
import { test, expect, Browser, Page } from '@playwright/test';

const ADMIN = 'admin.marie';
const ADMIN_PASSWORD = 'une pizza au feu de bois';

async function signedIn(browser: Browser, javaScriptEnabled: boolean): Promise<Page> {
  const context = await browser.newContext({ javaScriptEnabled });
  const page = await context.newPage();
  await page.goto('/sign-in');
  await page.getByLabel('Identifiant').fill(ADMIN);
  await page.getByLabel('Mot de passe').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await expect(page.locator('#welcome')).toHaveText(`Bonjour ${ADMIN}.`);
  if (javaScriptEnabled) await page.locator('body[data-hydrated="true"]').waitFor();
  return page;
}

/// Lets the server, not the browser's own checks, judge the value.
async function withoutBrowserChecks(page: Page, selector: string) {
  await page.locator(selector).evaluate((input: HTMLInputElement) => {
    input.removeAttribute('minlength');
    input.removeAttribute('required');
  });
}

for (const javaScriptEnabled of [false, true]) {
  const how = javaScriptEnabled ? 'with JavaScript' : 'without JavaScript';

  test(`creating an account: a refused value keeps its error and the typed values, ${how}`, async ({ browser }) => {
    const page = await signedIn(browser, javaScriptEnabled);
    await page.goto('/accounts');
    const username = `lucie.${javaScriptEnabled ? 'js' : 'html'}`;
    await page.getByLabel('Identifiant').fill(username);
    await page.getByLabel('Rôle').selectOption('viewer');
    await page.getByLabel('Mot de passe initial').fill('court');
    await withoutBrowserChecks(page, '#new-password');
    await page.getByRole('button', { name: 'Créer le compte' }).click();
    await expect(page.locator('#new-password-error')).toHaveText('Le mot de passe doit compter au moins 12 caractères.');
    await expect(page.getByLabel('Identifiant')).toHaveValue(username);
    await expect(page.getByLabel('Rôle')).toHaveValue('viewer');
    if (!javaScriptEnabled) await expect(page.getByLabel('Mot de passe initial')).toHaveValue('');

    // A second refusal replaces the first.
    await page.getByLabel('Identifiant').fill('Lucie Caisse');
    await page.getByLabel('Mot de passe initial').fill('quatre saisons au four');
    await page.getByRole('button', { name: 'Créer le compte' }).click();
    await expect(page.locator('#new-username-error')).toHaveText(
      "L'identifiant ne peut contenir que des lettres minuscules, des chiffres, « . », « _ » et « - », et commence par une lettre ou un chiffre.",
    );
    await expect(page.locator('#new-password-error')).toHaveText('');
    await expect(page.getByLabel('Identifiant')).toHaveValue('Lucie Caisse');
    await expect(page.getByLabel('Rôle')).toHaveValue('viewer');

    // Accepted: the notice, the new row, no error left.
    await page.getByLabel('Identifiant').fill(username);
    await page.getByLabel('Mot de passe initial').fill('quatre saisons au four');
    await page.getByRole('button', { name: 'Créer le compte' }).click();
    await expect(page.locator('#account-created')).toBeVisible();
    await expect(page.locator(`tr[data-username="${username}"]`)).toContainText('lecteur');
    await expect(page.locator('#new-username-error')).toHaveText('');
    await page.context().close();
  });

  test(`resetting a password: a refused one is answered on the page, ${how}`, async ({ browser }) => {
    const page = await signedIn(browser, javaScriptEnabled);
    await page.goto('/accounts');
    const row = page.locator(`tr[data-username="${ADMIN}"]`);
    await row.locator('summary').click();
    const field = row.getByLabel('Nouveau mot de passe');
    await field.fill('court');
    await field.evaluate((input: HTMLInputElement) => input.removeAttribute('minlength'));
    await row.getByRole('button', { name: 'Enregistrer le mot de passe' }).click();
    await expect(page.locator('#reset-error')).toHaveText('Le mot de passe doit compter au moins 12 caractères.');
    await page.context().close();
  });

  test(`changing one's password: a mismatch is answered next to the field, ${how}`, async ({ browser }) => {
    const page = await signedIn(browser, javaScriptEnabled);
    await page.goto('/account');
    await page.getByLabel('Mot de passe actuel').fill(ADMIN_PASSWORD);
    await page.getByLabel('Nouveau mot de passe').fill('une reine sans olives');
    await page.getByLabel('Confirmation du mot de passe').fill('une reine sans anchois');
    await page.getByRole('button', { name: 'Changer le mot de passe' }).click();
    await expect(page.locator('#confirmation-error')).toHaveText('Les deux mots de passe ne sont pas identiques.');
    await page.context().close();
  });
}
