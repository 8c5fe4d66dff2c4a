// A generated catalog directory in, a pass/fail verdict and screenshots out: opens every page from disk in headless Chromium,
// fails on console errors, page errors, failed loads and broken internal links (files and #fragments), and exercises search.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const [siteDir, shotsDir] = process.argv.slice(2).map((p) => p && path.resolve(p));
if (!siteDir || !shotsDir) {
  console.error("usage: node check-pages.mjs <site-dir> <screenshots-dir>");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}
// registry/ is the static Schema Registry API: its index.html files are JSON lists, not pages.
const registry = path.join(siteDir, "registry") + path.sep;
const pages = walk(siteDir)
  .filter((f) => f.endsWith(".html") && !f.startsWith(registry))
  .sort();
if (pages.length === 0) {
  console.error(`error: no HTML pages under ${siteDir}; did the catalog build run?`);
  process.exit(1);
}

// A Set: the phone-width pass revisits every page and would report the same problem twice.
const problems = new Set();
const problem = (page, text) => problems.add(`${path.relative(siteDir, page)}: ${text}`);
const idsByFile = new Map(); // file path -> Set of ids
const fragmentLinks = []; // [from page, target file, fragment]

// Each launch gets a fresh profile directory; removed again by closeBrowser.
async function launch(options = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "carebus-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    ...options,
  });
  context.userDataDir = userDataDir;
  return context;
}
async function closeBrowser(context) {
  await context.close();
  fs.rmSync(context.userDataDir, { recursive: true, force: true });
}

const context = await launch();
let eventPage = null;

try {
  const page = context.pages()[0] || (await context.newPage());
  let current = null;
  page.on("console", (m) => {
    if (m.type() === "error") problem(current, `console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problem(current, `uncaught error: ${e.message}`));
  page.on("requestfailed", (r) => problem(current, `failed to load ${r.url()}: ${r.failure()?.errorText}`));

  for (const file of pages) {
    current = file;
    const response = await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
    if (response && !response.ok()) problem(file, `opened with status ${response.status()}`);
    const facts = await page.evaluate(() => {
      const refs = [];
      for (const el of document.querySelectorAll("a[href], link[href], script[src], img[src]")) {
        const raw = el.getAttribute("href") ?? el.getAttribute("src");
        refs.push({ raw, url: new URL(raw, document.baseURI).href, resource: el.localName !== "a" });
      }
      return {
        ids: [...document.querySelectorAll("[id]")].map((e) => e.id),
        refs,
        title: document.title,
        h1: document.querySelectorAll("h1").length,
        main: document.querySelectorAll("main").length,
        skip: !!document.querySelector('a.skip-link[href="#main"]'),
        headerlessTables: [...document.querySelectorAll("table")].filter((t) => !t.querySelector("th")).length,
      };
    });
    idsByFile.set(file, new Set(facts.ids));
    if (!facts.title) problem(file, "page has no <title>");
    if (facts.h1 !== 1) problem(file, `page has ${facts.h1} <h1> elements, expected 1`);
    if (facts.main !== 1) problem(file, "page has no single <main> landmark");
    if (!facts.skip) problem(file, "page has no skip link to #main");
    if (facts.headerlessTables) problem(file, `${facts.headerlessTables} table(s) without header cells`);
    for (const { raw, url, resource } of facts.refs) {
      const u = new URL(url);
      if (u.protocol === "data:" || u.protocol === "mailto:") continue;
      if (u.protocol !== "file:") {
        // Guides may link to outside documentation; styles, scripts and images must be local.
        if (resource) problem(file, `loads ${raw} from outside the site; the catalog must work offline`);
        continue;
      }
      const target = fileURLToPath(new URL(u.pathname, "file://"));
      if (!target.startsWith(siteDir + path.sep) && target !== siteDir) {
        problem(file, `link ${raw} leaves the site directory`);
      } else if (!fs.existsSync(target) || fs.statSync(target).isDirectory()) {
        problem(file, `broken link ${raw}`);
      } else if (u.hash.length > 1) {
        fragmentLinks.push([file, target, decodeURIComponent(u.hash.slice(1)), raw]);
      }
    }
  }

  for (const [from, target, id, raw] of fragmentLinks) {
    const ids = idsByFile.get(target);
    if (ids && !ids.has(id)) problem(from, `broken fragment link ${raw} (no element with id "${id}")`);
  }

  // Keyboard: the first Tab lands on the skip link.
  const home = path.join(siteDir, "index.html");
  current = home;
  await page.goto(pathToFileURL(home).href);
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.className);
  if (focused !== "skip-link") problem(home, `first Tab focuses "${focused}", expected the skip link`);

  // Search: a field name lists the events that have it, with the classification badge.
  const probe = await page.evaluate(() => {
    const idx = window.CAREBUS_SEARCH_INDEX || [];
    const phi = idx.find((e) => e.k === "field" && e.n === "dateOfBirth" && e.s === "phi") || idx.find((e) => e.k === "field" && e.s === "phi");
    return phi ? { name: phi.n, events: [...new Set(idx.filter((e) => e.k === "field" && e.n === phi.n).map((e) => e.c))] } : null;
  });
  if (!probe) {
    problem(home, "search index has no PHI field to search for");
  } else {
    await page.fill("#search-home", probe.name);
    const results = await page.$$eval("#search-home-results li", (lis) =>
      lis.map((li) => ({ text: li.textContent, phi: !!li.querySelector(".badge-phi"), href: li.querySelector("a").getAttribute("href") })),
    );
    const hits = results.filter((r) => r.text.includes(probe.name) && r.phi);
    for (const ctx of probe.events) {
      if (!results.some((r) => r.text.includes(ctx))) problem(home, `searching "${probe.name}" does not list ${ctx}`);
    }
    if (hits.length === 0) problem(home, `searching "${probe.name}" shows no result with a PHI badge`);
    console.log(`search "${probe.name}": ${results.length} results, ${hits.length} with a PHI badge`);
    for (const r of results.slice(0, probe.events.length)) {
      const target = fileURLToPath(new URL(r.href.split("#")[0], pathToFileURL(home)));
      if (!fs.existsSync(target)) problem(home, `search result links to missing ${r.href}`);
    }
  }

  // Screenshots: home (laptop and phone) and the event page with the most versions.
  fs.mkdirSync(shotsDir, { recursive: true });
  await page.fill("#search-home", "");
  await page.screenshot({ path: path.join(shotsDir, "home.png"), fullPage: true });
  const events = pages.filter((p) => p.includes(`${path.sep}events${path.sep}`) && !/\.v\d+\.html$/.test(p));
  const versions = (p) => pages.filter((q) => q.startsWith(p.replace(/\.html$/, ".v"))).length;
  eventPage = events.sort((a, b) => versions(b) - versions(a) || a.localeCompare(b))[0];
  if (eventPage) {
    current = eventPage;
    await page.goto(pathToFileURL(eventPage).href);
    await page.screenshot({ path: path.join(shotsDir, "event.png"), fullPage: true });
  }
  await page.fill("#search-header", probe ? probe.name : "patient").catch(() => {});
  await page.screenshot({ path: path.join(shotsDir, "event-search.png") });

  // Phone width: no page scrolls sideways as a whole (wide tables scroll inside their wrapper).
  await page.setViewportSize({ width: 390, height: 844 });
  for (const file of pages) {
    current = file;
    await page.goto(pathToFileURL(file).href);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (overflow > 1) problem(file, `at 390px width the page scrolls sideways by ${overflow}px`);
  }
  await page.goto(pathToFileURL(home).href);
  await page.screenshot({ path: path.join(shotsDir, "home-phone.png"), fullPage: true });
  if (eventPage) {
    await page.goto(pathToFileURL(eventPage).href);
    await page.screenshot({ path: path.join(shotsDir, "event-phone.png"), fullPage: false });
  }

} finally {
  await closeBrowser(context);
}

// Without JavaScript everything but search works: every version diff is listed, the picker stays hidden.
if (eventPage) {
  const plain = await launch({ javaScriptEnabled: false });
  try {
    const page = plain.pages()[0] || (await plain.newPage());
    await page.goto(pathToFileURL(eventPage).href);
    const state = await page.evaluate(() => ({
      visible: [...document.querySelectorAll("section.diff")].filter((s) => s.offsetParent !== null).length,
      all: document.querySelectorAll("section.diff").length,
      picker: !!document.querySelector(".diff-picker:not([hidden])"),
      fields: document.querySelectorAll("table.fields tbody tr").length,
    }));
    if (state.visible !== state.all) problem(eventPage, `without JavaScript only ${state.visible} of ${state.all} diffs are visible`);
    if (state.picker) problem(eventPage, "without JavaScript the diff picker shows (it cannot work)");
    if (state.fields === 0) problem(eventPage, "without JavaScript the fields table is empty");
    console.log(`without JavaScript: ${state.all} version diffs listed, ${state.fields} field rows`);
  } finally {
    await closeBrowser(plain);
  }
}

if (problems.size) {
  for (const p of problems) console.error(p);
  console.error(`${problems.size} problem(s) in ${pages.length} pages`);
  process.exit(1);
}
console.log(`${pages.length} pages opened in Chromium: no console errors, no broken links; screenshots in ${shotsDir}`);
