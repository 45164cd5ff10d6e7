// The site's service worker: precaches every file of the build so that the
// page opens and runs with the server gone, and adds the cross-origin
// isolation headers (COOP/COEP) that PyScript's worker needs wherever the
// host does not send them. The build stamps VERSION; a new build is a new
// cache, and the old one is dropped once the new one is active.
const VERSION = "__TASKLOOM_SITE_VERSION__";
const CACHE = `taskloom-site-${VERSION}`;
const SCOPE = new URL("./", self.location).href;

async function precache() {
  const manifest = await (await fetch("site-manifest.json", { cache: "no-cache" })).json();
  const cache = await caches.open(CACHE);
  const urls = ["./", "site-manifest.json", ...Object.keys(manifest.files)];
  await cache.addAll(urls);
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("taskloom-site-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function isolated(response) {
  if (response.status === 0 || response.headers.get("Cross-Origin-Embedder-Policy")) {
    return response;
  }
  const headers = new Headers(response.headers);
  headers.set("Cross-Origin-Opener-Policy", "same-origin");
  headers.set("Cross-Origin-Embedder-Policy", "require-corp");
  headers.set("Cross-Origin-Resource-Policy", "same-origin");
  return new Response(response.body, {
    status: response.status, statusText: response.statusText, headers,
  });
}

// Network first, so that a rebuilt site shows at once (the server answers
// unchanged files with a cheap 304); the precache answers when the server
// cannot be reached.
async function respond(request) {
  try {
    return isolated(await fetch(request));
  } catch (error) {
    const cache = await caches.open(CACHE);
    const cached = request.mode === "navigate"
      ? await cache.match("./")
      : await cache.match(request, { ignoreSearch: true });
    if (cached) return isolated(cached);
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET" || !request.url.startsWith(SCOPE)) return;
  event.respondWith(respond(request));
});
