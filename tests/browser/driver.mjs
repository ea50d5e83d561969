// A general driver of Debian's Chromium (playwright-core, no browser download)
// for tests/browser/test_presence_page.py. Arguments: the Chromium path, then
// optional flags for it. Answers one command per stdin line with "ok JSON" or
// "fail message" on stdout:
//   open NAME URL              a new page NAME at URL
//   wait NAME MS EXPR          until EXPR (JavaScript, in the page) is truthy; answers its value
//   eval NAME EXPR             EXPR's value
//   freeze NAME | thaw NAME    DevTools Emulation.setScriptExecutionDisabled on / off
//   close NAME                 closes the page (the browser closes its WebSockets)
//   screenshot NAME PATH       a PNG of the page
import { chromium } from "playwright-core";
import readline from "node:readline";

const [chromiumPath, ...extra] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: chromiumPath || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extra],
});
const context = await browser.newContext({ viewport: { width: 1180, height: 640 }, deviceScaleFactor: 1 });
const pages = new Map();
const errors = [];
console.log("ok \"ready\"");

function page(name) {
  const p = pages.get(name);
  if (!p) throw new Error("no page " + name);
  return p;
}

async function run(cmd, rest) {
  const [name, ...args] = rest.split(" ");
  switch (cmd) {
    case "open": {
      const p = await context.newPage();
      p.on("pageerror", (e) => errors.push(`${name}: ${e}`));
      const cdp = await context.newCDPSession(p);
      pages.set(name, { page: p, cdp });
      await p.goto(args[0]);
      return args[0];
    }
    case "wait": {
      const [ms, ...expr] = args;
      // A string is evaluated as an expression in the page (a function would always be truthy).
      const text = `(${expr.join(" ")})`;
      await page(name).page.waitForFunction(text, null, { timeout: Number(ms), polling: 20 });
      return await page(name).page.evaluate(text);
    }
    case "eval":
      return await page(name).page.evaluate(`(${args.join(" ")})`);
    case "freeze":
    case "thaw":
      await page(name).cdp.send("Emulation.setScriptExecutionDisabled", { value: cmd === "freeze" });
      return cmd;
    case "close":
      await page(name).page.close();
      pages.delete(name);
      return "closed";
    case "screenshot":
      await page(name).page.screenshot({ path: args[0] });
      return args[0];
    case "errors":
      return errors;
    default:
      throw new Error("unknown command " + cmd);
  }
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const trimmed = line.trim();
  const sp = trimmed.indexOf(" ");
  const cmd = sp < 0 ? trimmed : trimmed.slice(0, sp);
  if (cmd === "quit") break;
  try {
    console.log("ok " + JSON.stringify((await run(cmd, sp < 0 ? "" : trimmed.slice(sp + 1))) ?? null));
  } catch (e) {
    console.log("fail " + String(e.message || e).split("\n")[0]);
  }
}
await browser.close();
