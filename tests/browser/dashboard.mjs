// Drives Debian's Chromium (playwright-core, no browser download) for
// tests/browser/test_dashboard.py: opens the dashboard, then answers one
// command per stdin line with "ok ..." or "fail ..." on stdout.
//   state ID online|offline TIMEOUT_MS   wait until the row of ID is in that state
//   status TEXT TIMEOUT_MS               wait until the stream status reads TEXT
//   count N TIMEOUT_MS                   wait until the online count is N
//   noreload                             the page was not reloaded since it opened
//   screenshot PATH                      a PNG of the page
import { chromium } from "playwright-core";
import readline from "node:readline";

const [url, chromiumPath] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: chromiumPath || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
await page.goto(url);
const loadedAt = await page.evaluate(() => window.lifelineLoadedAt);
console.log("ok ready");

async function run(cmd, args) {
  switch (cmd) {
    case "state": {
      const [id, state, ms] = args;
      await page.waitForFunction(([i, s]) => {
        const row = [...document.querySelectorAll("#rows tr")].find((r) => r.dataset.id === i);
        return row && row.dataset.state === s;
      }, [id, state], { timeout: Number(ms) });
      const row = page.locator(`#rows tr[data-id="${id}"]`);
      return `${await row.getAttribute("class")} ${(await row.innerText()).replace(/\s+/g, " ")}`;
    }
    case "status":
      await page.waitForFunction((t) => document.getElementById("stream-status").textContent === t, args[0],
                                 { timeout: Number(args[1]) });
      return args[0];
    case "count":
      await page.waitForFunction((n) => document.getElementById("online-count").textContent === n, args[0],
                                 { timeout: Number(args[1]) });
      return args[0];
    case "noreload": {
      const now = await page.evaluate(() => window.lifelineLoadedAt);
      if (now !== loadedAt) throw new Error("the page was reloaded");
      if (errors.length) throw new Error("page errors: " + errors.join("; "));
      return "same page";
    }
    case "screenshot":
      await page.screenshot({ path: args[0] });
      return args[0];
    default:
      throw new Error("unknown command " + cmd);
  }
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const [cmd, ...args] = line.trim().split(/\s+/);
  if (cmd === "quit") break;
  try {
    console.log("ok " + (await run(cmd, args)));
  } catch (e) {
    console.log("fail " + String(e.message || e).split("\n")[0]);
  }
}
await browser.close();
