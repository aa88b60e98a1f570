// Drives the console in headless Chromium as an operator would: log in,
// run an API test to completion, find the request, open it, export its
// items, and see the queue monitor. Screenshots of each page go to SHOTS.
//
// Usage: node console.mjs BASE_URL ADMIN_TOKEN SHOTS_DIR
// Prints a JSON report; exits non-zero on the first failed step.
import { chromium } from "playwright-core";
import { readFile } from "node:fs/promises";

const [base, token, shots] = process.argv.slice(2);
const report = {};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 860 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", e => errors.push(String(e)));

  // Log in: a wrong token is refused, the right one opens the queue.
  await page.goto(base + "/console");
  await page.fill("#token", "wrong-token-0123456789");
  await page.click("#login button");
  await page.waitForSelector("#login-error:not(:empty)");
  report.loginRefused = await page.textContent("#login-error");
  await page.screenshot({ path: `${shots}/login.png` });
  await page.fill("#token", token);
  await page.click("#login button");
  await page.waitForSelector("#queue table, #queue .error");
  await page.screenshot({ path: `${shots}/queue.png` });

  // API test: fill example data, send, watch it finish.
  await page.click('nav a[data-view="apis"]');
  await page.waitForSelector("#list table");
  await page.screenshot({ path: `${shots}/apis.png` });
  await page.click("text=demo_order_batchSave");
  await page.waitForSelector("#params table");

  // Edit the definition with the row editor: add a parameter, move it up,
  // save; the saved definition has it.
  const before = await page.locator("#params tbody tr").count();
  await page.click("#add-param");
  const last = before; // index of the new row
  await page.fill(`input[name="params.${last}.name"]`, "note");
  await page.dispatchEvent(`input[name="params.${last}.name"]`, "change");
  await page.locator("#params tbody tr").nth(last).locator("text=↑").click();
  await page.click("#save");
  await page.waitForFunction(() => document.querySelector("#save-result").textContent !== "");
  report.saveResult = await page.textContent("#save-result");
  await page.reload();
  await page.waitForSelector("#params table");
  report.paramRows = [before, await page.locator("#params tbody tr").count()];
  report.movedParam = await page.inputValue(`input[name="params.${last - 1}.name"]`);
  await page.screenshot({ path: `${shots}/api.png`, fullPage: true });

  await page.click("#fill");
  await page.waitForFunction(() => document.querySelector("#body").value.includes("billno"));
  await page.click("#send");
  await page.waitForFunction(() => /^(done|canceled):/.test(document.querySelector("#test-status").textContent), null, { timeout: 60000 });
  report.testStatus = await page.textContent("#test-status");
  const receipt = JSON.parse(await page.textContent("#receipt"));
  report.openApiReqId = receipt.data.openApiReqId;
  await page.screenshot({ path: `${shots}/api-test.png`, fullPage: true });

  // Find the request in the table and open it.
  await page.goto(`${base}/console/#/requests?api=demo_order_batchSave`);
  await page.waitForSelector(`#list td:text-is("${report.openApiReqId}")`);
  await page.screenshot({ path: `${shots}/requests.png` });
  await page.click(`#list td:text-is("${report.openApiReqId}")`);
  await page.waitForSelector("#items table");
  report.requestStatus = await page.textContent("#req-status");
  report.temporalLink = await page.getAttribute("#temporal-link", "href");
  report.itemRows = await page.locator("#items tbody tr").count();
  await page.screenshot({ path: `${shots}/request.png`, fullPage: true });

  // Export its items as CSV.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
  const csv = await readFile(await download.path(), "utf8");
  report.exportLines = csv.trim().split("\n").length;
  report.exportName = download.suggestedFilename();
  const [logDownload] = await Promise.all([page.waitForEvent("download"), page.click("#export-log")]);
  const log = await readFile(await logDownload.path(), "utf8");
  report.callLogHeader = log.split("\n")[0];
  report.callLogHasSubmit = log.includes(",submit,");

  // Apps: create one, then rotate its secret.
  await page.click('nav a[data-view="apps"]');
  await page.waitForSelector("#app-form");
  await page.fill('#app-form [name="app_key"]', "console-app");
  await page.fill('#app-form [name="name"]', "Console app");
  await page.fill('#app-form [name="secret"]', "console-secret-1");
  await page.fill('#app-form [name="notify_url"]', "https://isv.example.com/cb");
  await page.click("#app-form button:text-is('Save')");
  await page.waitForSelector('#list td:text-is("console-app")');
  await page.click('#list td:text-is("console-app")');
  await page.click("#rotate");
  await page.waitForSelector("#new-secret");
  report.newSecretLength = (await page.textContent("#new-secret")).length;
  await page.screenshot({ path: `${shots}/apps.png`, fullPage: true });

  report.pageErrors = errors;
  console.log(JSON.stringify(report));
} catch (err) {
  console.error(err.stack || String(err));
  console.log(JSON.stringify(report));
  process.exitCode = 1;
} finally {
  await browser.close();
}
